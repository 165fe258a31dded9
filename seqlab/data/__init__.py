"""Data: readers (formats), built-in corpora, sources, tokenizers and DataModules (modules).

The names users write in configs are exported here, so `seqlab.data.TextFiles` is a class path."""

from seqlab.data.errors import DataError
from seqlab.data.formats.embeddings import read_embedding_file
from seqlab.data.modules.classification import ClassificationData
from seqlab.data.modules.labelling import LabellingData
from seqlab.data.modules.language_model import LanguageModelData
from seqlab.data.modules.speech import SpeechData
from seqlab.data.modules.transduction import TransductionData
from seqlab.data.sources.classification import (
    ClassificationFiles,
    ClassificationSource,
    HubClassification,
    WordLanguages,
)
from seqlab.data.sources.labelling import CmudictStress, LabelledFiles, LabellingSource
from seqlab.data.sources.speech import BuiltinSpeech, HubSpeech, SpeechManifests, SpeechSource
from seqlab.data.sources.text import HubText, PythonStdlib, TextCorpus, TextFiles
from seqlab.data.sources.transduction import CmudictG2P, HubParallel, ParallelFiles, ParallelSource
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer
from seqlab.data.tokenizers.words import WordTokenizer

# Every seqlab DataModule: a checkpoint holds the state of one of them, under its class name.
DATA_MODULES = (ClassificationData, LabellingData, LanguageModelData, SpeechData, TransductionData)

# Classes renamed since older configs and checkpoints were written (old name -> new name here), so
# that an old checkpoint's data state is found (seqlab.engine.checkpoints) and an old config is told
# the new class path (seqlab.engine.config_files).
RENAMED = {
    "TaggingData": "LabellingData",
    "TaggingSource": "LabellingSource",
    "TaggedFiles": "LabelledFiles",
    "SpeechDataModule": "SpeechData",
}

__all__ = [
    "DATA_MODULES",
    "RENAMED",
    "BuiltinSpeech",
    "CharTokenizer",
    "ClassificationData",
    "ClassificationFiles",
    "ClassificationSource",
    "CmudictG2P",
    "CmudictStress",
    "DataError",
    "HubClassification",
    "HubParallel",
    "HubSpeech",
    "HubText",
    "LabelledFiles",
    "LabellingData",
    "LabellingSource",
    "LanguageModelData",
    "ParallelFiles",
    "ParallelSource",
    "PythonStdlib",
    "SentencePieceTokenizer",
    "SpeechData",
    "SpeechManifests",
    "SpeechSource",
    "TextCorpus",
    "TextFiles",
    "Tokenizer",
    "TransductionData",
    "WordLanguages",
    "WordTokenizer",
    "read_embedding_file",
    "tokenizer_from_state",
]
