"""Export folders run by the inference verbs: ``--ckpt_path DIR`` naming a folder ``seqlab export``
wrote. Each kind's graphs are wrapped in an object with the part of a task's interface that its verb
uses (``probabilities``, ``tag``, a step function, ``decode``), so the verbs read files, batch and
write exactly as they do for a checkpoint; only the forward passes run elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from seqlab.inference.export.bundle import (
    DATA_STATE,
    MANIFEST,
    SUFFIX,
    Bundle,
    ExportError,
    GraphRunner,
    open_graph,
    read_bundle,
)
from seqlab.inference.export.ctc_graphs import MIN_FRAMES
from seqlab.inference.kinds import verb_of_kind
from seqlab.tasks.speech import SpeechRecognitionTask

BackendName = Literal["torch", "onnxruntime"]
# The backend that runs each export format (``--backend auto``).
FORMAT_BACKEND: dict[str, BackendName] = {"onnx": "onnxruntime", "torch-export": "torch"}
CPU = torch.device("cpu")


def _looks_exported(path: Path) -> bool:
    """A folder with an export's files (even without its manifest, which then is the error to report)."""
    if not path.is_dir():
        return False
    names = {MANIFEST, DATA_STATE}
    return any(p.name in names or p.suffix in SUFFIX.values() for p in path.iterdir())


def backend_for(bundle: Bundle, asked: str) -> BackendName:
    """``asked``, or with ``auto`` the backend that runs ``bundle``'s format."""
    if asked == "auto":
        return FORMAT_BACKEND[bundle.format]
    return "onnxruntime" if asked == "onnxruntime" else "torch"


def open_export(ckpt_path: str | None, backend: str, verb: str) -> Bundle | None:
    """The export folder ``ckpt_path`` names, or ``None`` for a checkpoint. Refused: an export of a
    kind another verb runs, and a checkpoint with ``--backend onnxruntime`` (ONNX Runtime runs exported
    graphs only)."""
    if ckpt_path is None or not _looks_exported(Path(ckpt_path)):
        if backend == "onnxruntime":
            raise ExportError(
                f"--backend onnxruntime runs an export folder, and {ckpt_path} is none; write one with "
                f"`seqlab export --ckpt_path {ckpt_path} --output DIR`"
            )
        return None
    bundle = read_bundle(ckpt_path)
    runs_it = verb_of_kind(bundle.kind)
    if runs_it != verb:
        raise ExportError(
            f"{bundle.folder} holds an exported {bundle.kind}; use seqlab {runs_it or 'export'} for it"
        )
    return bundle


def _open(bundle: Bundle, name: str, backend: BackendName) -> GraphRunner:
    """Graph ``name``, ONNX Runtime using as many threads as torch (``--threads`` sets both)."""
    return open_graph(bundle, name, backend, torch.get_num_threads())


class ExportedClassifier:
    """A classifier's graph as ``seqlab predict`` uses a :class:`ClassificationTask`."""

    device = CPU

    def __init__(self, bundle: Bundle, backend: BackendName) -> None:
        self.graph = _open(bundle, "classifier", backend)
        self.labels: list[str] = bundle.data_state["labels"]

    def probabilities(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.graph(ids=batch["ids"], lengths=batch["lengths"])[1]


class ExportedTagger:
    """A tagger's graph (Viterbi included) as ``seqlab predict`` uses a :class:`LabellingTask`."""

    device = CPU

    def __init__(self, bundle: Bundle, backend: BackendName) -> None:
        self.graph = _open(bundle, "tagger", backend)
        self.labels: list[str] = bundle.data_state["labels"]

    def tag(self, batch: dict[str, Any]) -> list[list[str]]:
        names = ("words", "lengths", "chars", "char_lengths")
        _, tags = self.graph(**{name: batch[name] for name in names if batch.get(name) is not None})
        return [
            [self.labels[i] for i in row[:n]]
            for row, n in zip(tags.tolist(), batch["lengths"].tolist(), strict=True)
        ]


class ExportedLanguageModel:
    """A language model's step graph as ``seqlab generate`` uses a task: ``(ids [B, T], state) ->
    (log-probabilities [B, T, V], state)``, one graph call per step, the state a tuple of tensors
    (all zeros to start: what the recurrent layers start from without one)."""

    device = CPU

    def __init__(self, bundle: Bundle, backend: BackendName) -> None:
        self.graph = _open(bundle, "lm_step", backend)
        entry = bundle.manifest["graphs"]["lm_step"]
        self.state_shapes = {name: entry["shapes"][name] for name in entry["inputs"][1:]}

    def __call__(
        self, ids: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if state is None:
            batch = ids.size(0)
            state = tuple(
                torch.zeros([batch if isinstance(d, str) else d for d in shape])
                for shape in self.state_shapes.values()
            )
        steps = []
        for t in range(ids.size(1)):
            log_probs, *rest = self.graph(ids=ids[:, t], **dict(zip(self.state_shapes, state, strict=True)))
            steps.append(log_probs)
            state = tuple(rest)
        return torch.stack(steps, dim=1), state


class ExportedRecognizer:
    """A CTC model's graph as ``seqlab transcribe`` uses a :class:`SpeechRecognitionTask`: the
    forward pass from the graph, the searches the task's own (greedy, prefix beam, word list)."""

    device = CPU
    decode = SpeechRecognitionTask.decode
    word_list_scorer = SpeechRecognitionTask.word_list_scorer

    def __init__(self, bundle: Bundle, backend: BackendName) -> None:
        self.graph = _open(bundle, "ctc", backend)
        decoding = bundle.decoding
        self.eval_beam_size: int = decoding.get("eval_beam_size", 1)
        self.eval_prune: float | None = decoding.get("eval_prune")
        self.word_list: str | None = decoding.get("word_list")
        self.word_list_penalty: float = decoding.get("word_list_penalty", -6.0)
        self._scorer = None

    def __call__(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        short = MIN_FRAMES - features.size(1)
        if short > 0:  # zero frames past every length: read by no utterance
            features = torch.cat([features, features.new_zeros(features.size(0), short, features.size(2))], 1)
        log_probs, out_lengths = self.graph(features=features, lengths=lengths)
        return log_probs, out_lengths


def exported_task(bundle: Bundle, backend: BackendName) -> Any:
    """The object that stands in for the task of an export folder's kind, its graphs run by ``backend``."""
    if bundle.kind == "encoder-decoder":
        from seqlab.inference.export.seq2seq_runtime import ExportedTransducer

        return ExportedTransducer(bundle, backend, torch.get_num_threads())
    stands_in = {
        "classification": ExportedClassifier,
        "tagging": ExportedTagger,
        "language model": ExportedLanguageModel,
        "speech recognition": ExportedRecognizer,
    }
    return stands_in[bundle.kind](bundle, backend)
