"""``seqlab export``: a trained checkpoint written as an export folder (:mod:`.bundle`), whose graphs the
inference verbs run with ``--backend torch`` (``torch-export``) or ``--backend onnxruntime`` (``onnx``).

Which graphs a task becomes is :data:`GRAPH_BUILDERS`' choice, by the kind of task the checkpoint holds
(:func:`seqlab.inference.loader.task_kind`); the searches stay on the host, so the decoding settings the
task was evaluated with are written beside the graphs for the verbs to start from.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seqlab.console import output_into
from seqlab.engine.outputs import byte_size, out_of_space
from seqlab.inference.export.bundle import ExportError, Graph, is_bundle, write_bundle
from seqlab.inference.kinds import task_kind
from seqlab.inference.loader import load_trained
from seqlab.inference.options import ExportSettings, TrainedModel
from seqlab.tasks.base import SeqTask

# kind of task -> "module:function", the function taking the task and giving its graphs.
GRAPH_BUILDERS: dict[str, str] = {
    "classification": "seqlab.inference.export.classifier_graphs:classifier_graphs",
    "tagging": "seqlab.inference.export.tagger_graphs:tagger_graphs",
    "language model": "seqlab.inference.export.lm_graphs:lm_graphs",
    "speech recognition": "seqlab.inference.export.ctc_graphs:ctc_graphs",
    "encoder-decoder": "seqlab.inference.export.seq2seq_graphs:seq2seq_graphs",
}

# The task attributes that set how a verb searches, written into the manifest where the task has them.
DECODING_SETTINGS = (
    "eval_beam_size",
    "eval_prune",
    "length_penalty",
    "max_decode_length",
    "max_decode_ratio",
    "word_list",
    "word_list_penalty",
)


def graph_builder(kind: str) -> Callable[[Any], list[Graph]]:
    """The function of :data:`GRAPH_BUILDERS` for ``kind``."""
    if kind not in GRAPH_BUILDERS:
        raise ExportError(f"seqlab export does not export a {kind} yet")
    module, _, function = GRAPH_BUILDERS[kind].partition(":")
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:  # a bug inside the module: its own traceback
            raise
        raise ExportError(f"seqlab export does not export a {kind} in this version") from None
    return getattr(found, function)


def decoding_settings(task: SeqTask) -> dict[str, Any]:
    return {name: getattr(task, name) for name in DECODING_SETTINGS if hasattr(task, name)}


def check_output(output: Path, checkpoint: Path, overwrite: bool) -> None:
    """Only an export folder may be replaced (with ``--overwrite``), never a folder holding the checkpoint."""
    if not output.exists():
        return
    if checkpoint.resolve().is_relative_to(output.resolve()):
        raise ExportError(f"--output {output} holds the checkpoint {checkpoint}; choose another folder")
    if output.is_dir() and not any(output.iterdir()):
        return
    if not is_bundle(output):
        raise ExportError(f"--output {output} exists and is not a seqlab export; choose another folder")
    if not overwrite:
        raise ExportError(f"--output {output} exists; --overwrite true replaces it")


@contextlib.contextmanager
def exporter_output_hidden() -> Iterator[None]:
    """The exporters' own lines (``[torch.onnx] ...`` progress, warnings about their internals, through
    ``print``, logging and C++) kept off the user's terminal: standard output and error, as Python
    objects and as file descriptors, go to a temporary file while the graphs are traced. A failure
    still reaches the user, as the exception :func:`export` turns into one line."""
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(), output_into(sink):
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield


def _kept(output: Path) -> str:
    return "the earlier export there is as it was" if output.exists() else "nothing was written"


def export(model: TrainedModel, settings: ExportSettings) -> None:
    """Write the checkpoint's graphs, manifest and data state into ``--output``; one line per file."""
    if not settings.output:
        raise ExportError("--output: expected the export folder to write, e.g. --output exports/model")
    path = model.checkpoint("export")
    output = Path(settings.output)
    check_output(output, path, settings.overwrite)
    task, data_state = load_trained(path, "cpu")
    kind = task_kind(type(task)) or type(task).__name__
    build = graph_builder(kind)
    graphs = build(task)
    try:
        with exporter_output_hidden():
            write_bundle(output, kind, settings.format, graphs, data_state, decoding_settings(task))
    except Exception as err:  # the exporters raise many kinds; each is one line for the user
        if out_of_space(err):
            raise ExportError(f"{output}: no space left on its file system; {_kept(output)}") from None
        detail = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        raise ExportError(
            f"{path}: its {type(task).__name__} did not export to {settings.format}: "
            f"{type(err).__name__}: {detail}"
        ) from None
    for file in sorted(output.iterdir()):
        print(f"wrote {file} ({byte_size(file.stat().st_size)})")
