"""``seqlab predict``: run a trained classifier or tagger over a file.

A classifier writes one ``label<TAB>probability`` line per input text (a text file's lines, or a CSV,
TSV or JSON Lines file's text column), in input order. A tagger reads raw text (one sentence per
line, whitespace tokens), a CoNLL column file or a CoNLL-U file, and writes the tags back in CoNLL
form: the input's own columns with the tag column filled in (raw text becomes ``token<TAB>tag``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.classification import collate_texts, encode_text
from seqlab.data.modules.labelling import collate_sentences, encode_sentence
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.words import WordTokenizer
from seqlab.inference.export.bundle import MANIFEST
from seqlab.inference.export.runtime import ExportedClassifier, ExportedTagger, open_export
from seqlab.inference.loader import load_trained
from seqlab.inference.options import Backend, InputFormat, OutputFile, PredictInput, TrainedModel
from seqlab.tasks.classification import ClassificationTask
from seqlab.tasks.labelling import LabellingTask


def _batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in length order (little padding), cut into batches; callers restore the input order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def classify(
    task: ClassificationTask | ExportedClassifier,
    data_state: dict[str, Any],
    path: Path,
    fmt: InputFormat,
    column: str | None,
    batch_size: int,
) -> list[tuple[str, float]]:
    """(label, probability) of every text in ``path``, in input order."""
    from seqlab.data.formats.classification_files import read_classification_file

    if fmt in ("conll", "conllu"):
        raise DataError(f"{path}: a classifier reads text, CSV, TSV or JSON Lines, not {fmt}")
    examples = read_classification_file(path, column, None, "txt" if fmt == "text" else fmt)
    tokenizer = tokenizer_from_state(data_state["tokenizer"])
    max_length = data_state.get("max_length")
    items = [(encode_text(tokenizer, e.text, e.where)[:max_length], None, e.text) for e in examples]
    results: list[tuple[str, float]] = [("", 0.0)] * len(items)
    for batch_ids in _batches([len(ids) for ids, _, _ in items], batch_size):
        batch = _to(collate_texts([items[i] for i in batch_ids]), task.device)
        probs, best = task.probabilities(batch).max(-1)
        for i, p, b in zip(batch_ids, probs.tolist(), best.tolist(), strict=True):
            results[i] = (task.labels[b], p)
    return results


def tag(
    task: LabellingTask | ExportedTagger,
    data_state: dict[str, Any],
    path: Path,
    fmt: InputFormat,
    tag_field: str,
    tag_column: int,
    out: TextIO,
    batch_size: int,
) -> int:
    """Tag every sentence in ``path`` and write them to ``out`` in CoNLL(-U) form; returns the count."""
    from seqlab.data.formats.conll import (
        detect_format,
        read_conll,
        read_conllu,
        read_token_lines,
        write_conll,
        write_conllu,
    )

    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "conllu":
        sentences = read_conllu(path, tag_field, require_tags=False)  # type: ignore[arg-type]
    elif fmt == "conll":
        sentences = read_conll(path, tag_column=tag_column)
    elif fmt == "text":
        sentences = read_token_lines(path)
    else:
        raise DataError(f"{path}: a tagger reads text, CoNLL or CoNLL-U, not {fmt}")
    words = tokenizer_from_state(data_state["tokenizer"])
    chars = tokenizer_from_state(data_state["chars"]) if data_state.get("chars") else None
    assert isinstance(words, WordTokenizer) and (chars is None or isinstance(chars, CharTokenizer))
    items = [
        (*encode_sentence(words, chars, s.tokens, data_state["max_word_length"]), None, s.tokens)
        for s in sentences
    ]
    tags: list[list[str]] = [[] for _ in sentences]
    for batch_ids in _batches([len(s.tokens) for s in sentences], batch_size):
        batch = _to(collate_sentences([items[i] for i in batch_ids]), task.device)
        for i, predicted in zip(batch_ids, task.tag(batch), strict=True):
            tags[i] = predicted
    if fmt == "conllu":
        write_conllu(sentences, tags, out, tag_field)  # type: ignore[arg-type]
    else:
        write_conll(sentences, tags, out, tag_column)
    return len(sentences)


@contextmanager
def _input_file(input: str) -> Iterator[Path]:
    """The input path; ``-`` reads standard input into a temporary file first."""
    if input != "-":
        yield Path(input)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stdin.txt"
        path.write_text(sys.stdin.read(), encoding="utf-8")
        yield path


def predict(
    model: TrainedModel, reading: PredictInput, out: OutputFile, backend: Backend = Backend()
) -> None:
    """Predict labels (a classifier) or tags (a tagger) for every example in a file, with a checkpoint
    or an export folder's graphs."""
    bundle = open_export(model.ckpt_path, backend.backend, "predict")
    path_ckpt = bundle.folder / MANIFEST if bundle else model.checkpoint("predict")
    if not reading.input:
        raise SystemExit("seqlab predict: give `--input FILE` (or `--input -` for standard input)")
    out.check([reading.input], path_ckpt)
    if bundle is None:
        task, data_state = load_trained(path_ckpt, model.torch_device(), "predict")
    else:
        exported = ExportedClassifier if bundle.kind == "classification" else ExportedTagger
        task, data_state = exported(bundle, backend.backend), bundle.data_state
    fmt, size = reading.format_to_read(), reading.batch_size
    with _input_file(reading.input) as source, torch.inference_mode():
        if isinstance(task, (ClassificationTask, ExportedClassifier)):
            results = classify(task, data_state, source, fmt, reading.column, size)
            lines = "".join(f"{label}\t{prob:.4f}\n" for label, prob in results)
            out.write(lambda file: file.write(lines))
        elif isinstance(task, (LabellingTask, ExportedTagger)):
            out.write(
                lambda file: tag(
                    task, data_state, source, fmt, reading.tag_field, reading.tag_column, file, size
                )
            )
        else:  # load_trained let through only the kinds that `predict` runs
            raise AssertionError(f"predict cannot run a {type(task).__name__}")
