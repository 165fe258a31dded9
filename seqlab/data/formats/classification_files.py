"""Reading text-classification data: CSV/TSV/JSONL/plain-text files, and Hugging Face datasets.

Every record becomes a ``TextExample`` whose ``where`` names its origin ("train.tsv:12"), and every
malformed record is refused with a ``DataError`` of the form ``path:LINE: what is wrong; what was
expected``, so a user can go straight to the line to fix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import datasets

from seqlab.data.errors import DataError
from seqlab.data.examples import TextExample
from seqlab.data.formats.tables import (
    case_hint,
    count_noun,
    jsonl_records,
    kind_of,
    load_hub_split,
    pick_column,
    table_rows,
    text_field,
)
from seqlab.data.formats.text_files import read_text_lines

ClassificationFormat = Literal["auto", "csv", "tsv", "jsonl", "txt"]

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
TEXT_COLUMNS = ("sentence", "text")  # tried in this order when no text column is named (GLUE, then generic)


def _format_of(path: Path, format: ClassificationFormat) -> str:
    if format != "auto":
        if format not in SUFFIXES.values():
            raise DataError(f"{path}: unknown format {format!r}; expected one of auto, csv, tsv, jsonl, txt")
        return format
    found = SUFFIXES.get(path.suffix.lower())
    if found is None and path.is_dir():
        raise DataError(f"{path}: a folder, not a file; expected a {'/'.join(SUFFIXES)} file")
    if found is None:
        accepted = ", ".join(SUFFIXES)
        raise DataError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; expected one of {accepted} "
            f"(or give the format explicitly)"
        )
    return found


def _missing_text_column(
    origin: str, columns: Sequence[str], text_column: str | None, what: str
) -> DataError:
    if text_column is not None:
        hint = case_hint(text_column, columns)
        return DataError(f"{origin}: no text column {text_column!r}; the {what} has {list(columns)}{hint}")
    return DataError(
        f"{origin}: no text column (looked for {' or '.join(map(repr, TEXT_COLUMNS))}); the {what} has "
        f"{list(columns)}; name the text column (`data.source.text_column` to train, `--column` to predict)"
    )


def _label(value: Any, where: str) -> str:
    """A label as a string: strings (stripped) and integers only; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: the label is {kind_of(value)}; expected a string or a whole number")
    label = value.strip() if isinstance(value, str) else str(value)
    if not label:
        raise DataError(f"{where}: empty label; expected a class label (or read the file as unlabelled)")
    return label


def _read_table(
    path: Path, lines: list[str], delimiter: str, text_column: str | None, label_column: str | None
) -> list[TextExample]:
    rows = iter(table_rows(path, lines, delimiter))
    kind = "TSV" if delimiter == "\t" else "CSV"
    header_line, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    if not header:
        raise DataError(f"{path}: no examples (no header row; expected a {kind} header, then examples)")
    text_name = pick_column(header, text_column, TEXT_COLUMNS)
    if text_name is None:
        raise _missing_text_column(f"{path}:{header_line}", header, text_column, "header")
    if label_column is not None and label_column not in header:
        raise DataError(
            f"{path}:{header_line}: no label column {label_column!r}; the header has {header}"
            f"{case_hint(label_column, header)} (name the label column, or read the file as unlabelled)"
        )
    text_index = header.index(text_name)
    label_index = header.index(label_column) if label_column is not None else None
    examples = []
    for number, fields in rows:
        where = f"{path}:{number}"
        if len(fields) != len(header):
            found = count_noun(len(fields), "field")
            quoting = " (TSV has no quoting: a tab inside a text splits it)" if delimiter == "\t" else ""
            raise DataError(f"{where}: {found}; expected {len(header)} as in the header {header}{quoting}")
        text = text_field(fields[text_index], where, text_name)
        label = _label(fields[label_index], where) if label_index is not None else None
        examples.append(TextExample(text, label, where))
    if not examples:
        raise DataError(f"{path}: no examples (only a header row; expected one row per example after it)")
    return examples


def _read_jsonl(
    path: Path, lines: list[str], text_column: str | None, label_column: str | None
) -> list[TextExample]:
    examples = []
    for where, record in jsonl_records(path, lines):
        text_name = pick_column(list(record), text_column, TEXT_COLUMNS)
        if text_name is None:
            raise _missing_text_column(where, list(record), text_column, "object")
        if label_column is not None and label_column not in record:
            hint = case_hint(label_column, list(record))
            raise DataError(f"{where}: no key {label_column!r}; the object has {list(record)}{hint}")
        text = text_field(record[text_name], where, text_name)
        label = _label(record[label_column], where) if label_column is not None else None
        examples.append(TextExample(text, label, where))
    if not examples:
        raise DataError(f"{path}: no examples (only blank lines; expected one JSON object per line)")
    return examples


def _read_txt(path: Path, lines: list[str]) -> list[TextExample]:
    examples = []
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        if not line.strip():
            raise DataError(f"{where}: blank line; expected one text per line")
        examples.append(TextExample(line, None, where))
    return examples


def read_classification_file(
    path: str | os.PathLike[str],
    text_column: str | None = None,
    label_column: str | None = "label",
    format: ClassificationFormat = "auto",
) -> list[TextExample]:
    """Read texts and their labels from a CSV/TSV (with header), JSONL, or plain-text file.

    Args:
        path: the file; ``format="auto"`` picks the reader by suffix (.csv, .tsv, .jsonl/.ndjson, .txt).
        text_column: column/key of the text; ``None`` takes the first of "sentence", "text" present,
            so GLUE ``sentence<TAB>label`` files work as they are.
        label_column: column/key of the label; ``None`` reads the file as unlabelled (labels ``None``).
            Plain-text files are always unlabelled.
        format: csv (RFC 4180 quoting), tsv (no quoting: GLUE files hold unbalanced quotes), jsonl
            (one object per line), txt (one text per line).
    """
    path = Path(path)
    kind = _format_of(path, format)
    expected = {
        "csv": "a CSV header and one row per example",
        "tsv": "a TSV header and one row per example",
        "jsonl": "one JSON object per line",
        "txt": "one text per line",
    }[kind]
    lines = read_text_lines(path, "no examples", expected)
    if kind == "csv":
        return _read_table(path, lines, ",", text_column, label_column)
    if kind == "tsv":
        return _read_table(path, lines, "\t", text_column, label_column)
    if kind == "jsonl":
        return _read_jsonl(path, lines, text_column, label_column)
    return _read_txt(path, lines)


def load_hub_classification(
    name: str,
    split: str,
    config_name: str | None = None,
    text_column: str | None = None,
    label_column: str = "label",
) -> list[TextExample]:
    """Read one split of a classification dataset through ``datasets``.

    ``name`` is a Hub name (online), a ``save_to_disk`` directory, or a local directory of data files
    (e.g. ``train.csv``, ``test.csv``). ClassLabel labels become their names; ``where`` is
    ``name[split]:ROW`` with ROW the 0-based row index.
    """
    origin = f"dataset {name!r}"
    dataset = load_hub_split(name, split, config_name)
    columns = dataset.column_names
    text_name = pick_column(columns, text_column, TEXT_COLUMNS)
    if text_name is None:
        raise _missing_text_column(f"{origin}[{split}]", columns, text_column, "dataset")
    if label_column not in columns:
        raise DataError(f"{origin}[{split}]: no label column {label_column!r}; the dataset has {columns}")
    feature = dataset.features[label_column]
    names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    examples = []
    texts, labels = dataset[text_name], dataset[label_column]
    for row, (text, label) in enumerate(zip(texts, labels, strict=True)):
        where = f"{name}[{split}]:{row}"
        if names is not None and isinstance(label, int) and not isinstance(label, bool):
            if not 0 <= label < len(names):
                raise DataError(
                    f"{where}: class index {label} outside the dataset's {len(names)} classes "
                    f"(-1 marks an unlabelled row, as in GLUE test splits); expected a labelled split"
                )
            label = names[label]
        examples.append(TextExample(text_field(text, where, text_name), _label(label, where), where))
    if not examples:
        raise DataError(f"{origin}[{split}]: no examples (the split is empty)")
    return examples
