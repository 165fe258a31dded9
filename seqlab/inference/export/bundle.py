"""An export folder: the graphs of one trained model (ONNX files or ``torch.export`` programs), and beside
them ``manifest.json`` (what kind of model, which graph takes and gives what, the decoding settings) and
the data state (tokenizers or alphabet, labels) as JSON, so that a runtime without seqlab's checkpoint
can turn text into ids and ids back into text.

One graph is a :class:`Graph` (a module with example inputs and names); :func:`write_bundle` exports
them all in one format, :func:`read_bundle` reads a folder back and :func:`open_graph` runs one graph
with ONNX Runtime or PyTorch (:class:`GraphRunner`, torch tensors in and out either way).
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from seqlab.engine.errors import UserError
from seqlab.engine.work_files import remove_stale_work, work_path

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_STATE = "data_state.json"
Format = Literal["onnx", "torch-export"]
SUFFIX = {"onnx": ".onnx", "torch-export": ".pt2"}


class ExportError(UserError):
    """An export folder that is missing, damaged or of another kind than asked for."""


@dataclasses.dataclass
class Graph:
    """One graph to export: ``module(*example)`` traced with these input and output names; every input
    listed in ``dynamic`` has those axes (index -> name, or a ``torch.export.Dim`` where the axis has a
    range) dynamic, the others are fixed."""

    name: str
    module: torch.nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: Sequence[str]
    outputs: Sequence[str]
    dynamic: dict[str, dict[int, Any]]


@dataclasses.dataclass
class Bundle:
    """An export folder read back."""

    folder: Path
    kind: str
    format: Format
    manifest: dict[str, Any]
    data_state: dict[str, Any]

    @property
    def decoding(self) -> dict[str, Any]:
        return self.manifest.get("decoding", {})

    def graph_file(self, name: str) -> Path:
        try:
            path = self.folder / self.manifest["graphs"][name]["file"]
        except (KeyError, TypeError):
            raise ExportError(f"{self.folder / MANIFEST} has no graph {name!r}") from None
        if not path.is_file():
            raise ExportError(f"{self.folder}: damaged export: {path.name} (graph {name!r}) is missing")
        return path


def _dynamic_shapes(graph: Graph) -> tuple[Any, ...]:
    """One entry per input, nested as ``forward`` takes them: the inputs a ``*args`` takes form one
    tuple (a graph whose inputs depend on the model, as an encoder-decoder's step)."""
    dims: dict[str, Any] = {}
    shapes = tuple(
        {axis: dims.setdefault(_dim_name(dim), _dim(dim)) for axis, dim in graph.dynamic[name].items()}
        if name in graph.dynamic
        else None
        for name in graph.inputs
    )
    params = inspect.signature(graph.module.forward).parameters.values()
    if not any(p.kind is p.VAR_POSITIONAL for p in params):
        return shapes
    named = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    return (*shapes[:named], shapes[named:])


def _dim_name(dim: Any) -> str:
    return dim if isinstance(dim, str) else str(dim.__name__)


def _dim(dim: Any) -> Any:
    return torch.export.Dim(dim) if isinstance(dim, str) else dim


def _shapes(graph: Graph) -> dict[str, list[int | str]]:
    """Each input's shape as traced, its dynamic axes by name: what a runtime needs to build an input
    it is not given (a language model's first, all-zero state)."""
    return {
        name: [
            _dim_name(graph.dynamic[name][axis]) if axis in graph.dynamic.get(name, {}) else size
            for axis, size in enumerate(example.shape)
        ]
        for name, example in zip(graph.inputs, graph.example, strict=True)
    }


def export_graph(graph: Graph, fmt: Format, path: Path) -> None:
    """Trace ``graph`` with seqlab's exportable recurrent layers and write it to ``path``."""
    from seqlab.nn.padded_recurrence import padded_graph_mode

    shapes = _dynamic_shapes(graph)
    graph.module.eval()
    with padded_graph_mode(), torch.no_grad():
        if fmt == "torch-export":
            program = torch.export.export(graph.module, graph.example, dynamic_shapes=shapes)
            torch.export.save(program, str(path))
            return
        from seqlab.inference.export.onnx_ops import translation_table

        onnx_program = torch.onnx.export(
            graph.module,
            graph.example,
            dynamo=True,
            input_names=list(graph.inputs),
            output_names=list(graph.outputs),
            dynamic_shapes=shapes,
            custom_translation_table=translation_table(),
            verbose=False,
        )
    onnx_program.save(str(path))


def write_bundle(
    folder: Path,
    kind: str,
    fmt: Format,
    graphs: Sequence[Graph],
    data_state: dict[str, Any],
    decoding: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Export ``graphs`` into ``folder`` with the manifest and data state; written into a fresh
    folder beside it and renamed into place, so a failed export leaves nothing half written."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_work(folder)  # a killed export's work folder
    work, aside = work_path(folder), work_path(folder, ".old")
    try:
        work.mkdir(mode=0o700)  # inside the try: a stop right after it still removes it
        entries = {}
        for graph in graphs:
            file = graph.name + SUFFIX[fmt]
            export_graph(graph, fmt, work / file)
            entries[graph.name] = {
                "file": file,
                "inputs": list(graph.inputs),
                "outputs": list(graph.outputs),
                "shapes": _shapes(graph),
            }
        manifest = {
            "seqlab_export": FORMAT_VERSION,
            "kind": kind,
            "format": fmt,
            "graphs": entries,
            "decoding": decoding,
            "torch": torch.__version__,
            **(extra or {}),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        state_text = json.dumps(data_state, indent=1, default=_bytes_to_json)
        (work / DATA_STATE).write_text(state_text + "\n", encoding="utf-8")
        # Two renames, never a deletion before the new folder is in place: a stop between them puts
        # the earlier export back (below) instead of losing both.
        if folder.exists():
            os.replace(folder, aside)
        os.replace(work, folder)
    finally:
        if aside.exists() and not folder.exists():
            os.replace(aside, folder)
        for left in (work, aside):
            if left.exists():
                shutil.rmtree(left, ignore_errors=True)


def _bytes_to_json(value: Any) -> dict[str, str]:
    """Bytes in the data state (a sentencepiece model) as JSON: ``{"base64": ...}``."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"the data state holds a {type(value).__name__}, which has no JSON form")


def _json_to_bytes(value: dict[str, Any]) -> Any:
    return base64.b64decode(value["base64"]) if value.keys() == {"base64"} else value


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_bundle(folder: str | Path) -> Bundle:
    """The export in ``folder`` (an :class:`ExportError` naming the file where it is not one)."""
    folder = Path(folder)
    if not folder.exists():
        remove_stale_work(folder)  # puts back an earlier export that a killed export had set aside
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        data_state = json.loads((folder / DATA_STATE).read_text(encoding="utf-8"), object_hook=_json_to_bytes)
    except FileNotFoundError as err:
        raise ExportError(f"{folder} is not a seqlab export: {Path(err.filename).name} is missing") from None
    except ValueError as err:  # bad JSON, text or base64
        raise ExportError(f"{folder}: damaged export ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("seqlab_export") != FORMAT_VERSION:
        raise ExportError(f"{folder / MANIFEST} is not a seqlab export of format {FORMAT_VERSION}")
    missing = [key for key in ("kind", "format", "graphs") if key not in manifest]
    if missing or manifest["format"] not in SUFFIX or not isinstance(data_state, dict):
        raise ExportError(f"{folder / MANIFEST}: damaged export (no valid {', '.join(missing) or 'format'})")
    return Bundle(folder, manifest["kind"], manifest["format"], manifest, data_state)


class GraphRunner:
    """One exported graph, called with torch tensors by input name; returns its outputs in order."""

    def __init__(self, bundle: Bundle, name: str, backend: Literal["torch", "onnxruntime"], threads: int = 0):
        path = bundle.graph_file(name)
        self.inputs: list[str] = bundle.manifest["graphs"][name]["inputs"]
        self.backend = backend
        if backend == "onnxruntime":
            if bundle.format != "onnx":
                raise ExportError(
                    f"{bundle.folder} holds {bundle.format} graphs, which --backend onnxruntime cannot run; "
                    "use --backend torch"
                )
            import onnxruntime

            options = onnxruntime.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            try:
                self.session = onnxruntime.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as err:  # onnxruntime raises its own untyped failures
                raise ExportError(f"{path}: damaged graph ({str(err).splitlines()[0]})") from None
        else:
            if bundle.format != "torch-export":
                raise ExportError(
                    f"{bundle.folder} holds {bundle.format} graphs, which --backend torch cannot run; "
                    "use --backend onnxruntime"
                )
            import seqlab.nn.padded_recurrence  # noqa: F401  (the operator the programs call)

            try:
                self.module = torch.export.load(str(path)).module()
            except Exception as err:  # a truncated archive, another torch's program
                raise ExportError(f"{path}: damaged graph ({str(err).splitlines()[0]})") from None

    def __call__(self, **tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.backend == "onnxruntime":
            feed = {name: tensors[name].detach().cpu().numpy() for name in self.inputs}
            return tuple(torch.from_numpy(out) for out in self.session.run(None, feed))
        with torch.no_grad():
            out = self.module(*(tensors[name] for name in self.inputs))
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def open_graph(
    bundle: Bundle, name: str, backend: Literal["torch", "onnxruntime"], threads: int = 0
) -> GraphRunner:
    return GraphRunner(bundle, name, backend, threads)
