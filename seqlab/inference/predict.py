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
from seqlab.data.modules.classification import collate_texts
from seqlab.data.modules.labelling import collate_sentences
from seqlab.engine.errors import UserError
from seqlab.inference.loader import Trained, load_for_verb, model_path
from seqlab.inference.options import InputFormat, OutputFile, PredictInput, Runtime, TrainedModel


def _batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in length order (little padding), cut into batches; callers restore the input order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def classify(
    trained: Trained, path: Path, fmt: InputFormat, column: str | None, batch_size: int
) -> list[tuple[str, float]]:
    """(label, probability) of every text in ``path``, in input order."""
    from seqlab.data.formats.classification_files import read_classification_file

    if fmt in ("conll", "conllu"):
        raise DataError(f"{path}: a classifier reads text, CSV, TSV or JSON Lines, not {fmt}")
    examples = read_classification_file(path, column, None, "txt" if fmt == "text" else fmt)
    task = trained.task
    items = [(trained.encode(e.text, e.where), None, e.text) for e in examples]
    results: list[tuple[str, float]] = [("", 0.0)] * len(items)
    for batch_ids in _batches([len(ids) for ids, _, _ in items], batch_size):
        batch = _to(collate_texts([items[i] for i in batch_ids]), task.device)
        probs, best = task.probabilities(batch).max(-1)
        for i, p, b in zip(batch_ids, probs.tolist(), best.tolist(), strict=True):
            results[i] = (task.labels[b], p)
    return results


def tag(
    trained: Trained,
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
    task = trained.task
    items = [(*trained.encode(s.tokens), None, s.tokens) for s in sentences]
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
    """The input path; ``-`` reads standard input into a temporary file first, and an error in what
    was read names ``<stdin>`` (as ``seqlab decode`` does), not that file."""
    if input != "-":
        yield Path(input)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stdin.txt"
        path.write_text(sys.stdin.read(), encoding="utf-8")
        try:
            yield path
        except DataError as err:
            raise DataError(str(err).replace(str(path), "<stdin>")) from None


def predict(model: TrainedModel, runtime: Runtime, reading: PredictInput, out: OutputFile) -> None:
    """Predict labels (a classifier) or tags (a tagger) for every example in a file."""
    path_ckpt = model_path(model, "predict", runtime)
    if not reading.input:
        raise UserError("--input: expected a file to predict on (or - for standard input)")
    out.check([reading.input], path_ckpt)
    trained = load_for_verb(path_ckpt, "predict", runtime)
    fmt, size = reading.format_to_read(), runtime.batch(64)
    with _input_file(reading.input) as source, trained.running():
        if trained.kind == "classification":
            results = classify(trained, source, fmt, reading.column, size)
            lines = "".join(f"{label}\t{prob:.4f}\n" for label, prob in results)
            out.write(lambda file: file.write(lines))
        else:  # a tagger: load_for_verb let through only the kinds that `predict` runs
            out.write(
                lambda file: tag(trained, source, fmt, reading.tag_field, reading.tag_column, file, size)
            )
