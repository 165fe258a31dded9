"""Data: readers (formats), built-in corpora, sources, tokenizers and DataModules (modules).

The names users write in configs are exported here, so `seqlab.data.TextFiles` is a class path. Each is
imported on first use (PEP 562): importing this package, as `seqlab.data.errors` does, loads no torch.
"""

from __future__ import annotations

from typing import Any

from seqlab import lazy_exports

# name -> the module that defines it
_HOMES = {
    "DataError": "seqlab.data.errors",
    "read_embedding_file": "seqlab.data.formats.embeddings",
    "ClassificationData": "seqlab.data.modules.classification",
    "LabellingData": "seqlab.data.modules.labelling",
    "LanguageModelData": "seqlab.data.modules.language_model",
    "SpeechData": "seqlab.data.modules.speech",
    "TransductionData": "seqlab.data.modules.transduction",
    **dict.fromkeys(
        ("ClassificationFiles", "ClassificationSource", "HubClassification", "WordLanguages"),
        "seqlab.data.sources.classification",
    ),
    **dict.fromkeys(("CmudictStress", "LabelledFiles", "LabellingSource"), "seqlab.data.sources.labelling"),
    **dict.fromkeys(
        ("BuiltinSpeech", "HubSpeech", "SpeechManifests", "SpeechSource"), "seqlab.data.sources.speech"
    ),
    **dict.fromkeys(("HubText", "PythonStdlib", "TextCorpus", "TextFiles"), "seqlab.data.sources.text"),
    **dict.fromkeys(
        ("CmudictG2P", "HubParallel", "ParallelFiles", "ParallelSource"), "seqlab.data.sources.transduction"
    ),
    "Tokenizer": "seqlab.data.tokenizers.base",
    "CharTokenizer": "seqlab.data.tokenizers.characters",
    "tokenizer_from_state": "seqlab.data.tokenizers.state",
    "SentencePieceTokenizer": "seqlab.data.tokenizers.subwords",
    "WordTokenizer": "seqlab.data.tokenizers.words",
}

# Every seqlab DataModule: a checkpoint holds the state of one of them, under its class name.
_DATA_MODULE_NAMES = (
    "ClassificationData",
    "LabellingData",
    "LanguageModelData",
    "SpeechData",
    "TransductionData",
)

# Classes renamed since older configs and checkpoints were written (old name -> new name here), so
# that an old checkpoint's data state is found (seqlab.engine.checkpoints) and an old config is told
# the new class path (seqlab.engine.config_files).
RENAMED = {
    "TaggingData": "LabellingData",
    "TaggingSource": "LabellingSource",
    "TaggedFiles": "LabelledFiles",
    "SpeechDataModule": "SpeechData",
}

_export = lazy_exports(__name__, _HOMES)


def __getattr__(name: str) -> Any:
    if name == "DATA_MODULES":  # a tuple of classes: importing it imports the five DataModules
        globals()[name] = tuple(_export(n) for n in _DATA_MODULE_NAMES)
        return globals()[name]
    return _export(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = sorted(["DATA_MODULES", "RENAMED", *_HOMES])
