"""Reading parallel (source, target) data for sequence-to-sequence tasks: line-aligned file pairs,
TSV/JSONL tables and Hugging Face datasets (the ``translation`` layout of WMT-style ones included).

As with classification data, every record becomes a ``ParallelExample`` whose ``where`` names its
origin ("train.de:12"), and every malformed record is refused with a ``DataError`` of the form
``path:LINE: what is wrong; what was expected``, so a user can go straight to the line to fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import datasets

from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.formats.tables import count_noun, jsonl_records, load_hub_split, table_rows, text_field
from seqlab.data.formats.text_files import read_text_lines

ParallelFormat = Literal["auto", "tsv", "jsonl"]

SUFFIXES = {".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TRANSLATION_COLUMN = "translation"  # WMT/OPUS datasets: one column of {language: text} dicts


def read_parallel_files(
    source_path: str | os.PathLike[str], target_path: str | os.PathLike[str]
) -> list[ParallelExample]:
    """Read two line-aligned UTF-8 files (line N of the target file is the target of line N of the
    source file), as Moses/WMT corpora ship. ``where`` is ``source_path:N``.

    Both files must have the same number of lines and no empty line: a blank on one side means the
    pairing has slipped, or a sentence without its translation, and either would train on garbage.
    Lines are kept as they are (only the line end is dropped).
    """
    source_path, target_path = Path(source_path), Path(target_path)
    expected = "one sentence per line, aligned with {}"
    sources = read_text_lines(source_path, "no sentences", expected.format(target_path))
    targets = read_text_lines(target_path, "no sentences", expected.format(source_path))
    if len(sources) != len(targets):
        raise DataError(
            f"{source_path} has {count_noun(len(sources), 'line')} but {target_path} has "
            f"{count_noun(len(targets), 'line')}; expected line-aligned files (line N of one is the "
            f"counterpart of line N of the other)"
        )
    examples = []
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), 1):
        for path, line in ((source_path, source), (target_path, target)):
            if not line.strip():
                raise DataError(
                    f"{path}:{number}: empty line; expected a sentence on every line of line-aligned files"
                )
        examples.append(ParallelExample(source, [target], f"{source_path}:{number}"))
    return examples


def _format_of(path: Path, format: ParallelFormat) -> str:
    if format != "auto":
        if format not in SUFFIXES.values():
            raise DataError(f"{path}: unknown format {format!r}; expected one of auto, tsv, jsonl")
        return format
    found = SUFFIXES.get(path.suffix.lower())
    if found is None and path.is_dir():
        raise DataError(f"{path}: a folder, not a file; expected a {'/'.join(SUFFIXES)} file")
    if found is None:
        raise DataError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; expected one of "
            f"{', '.join(SUFFIXES)} (or give the format explicitly)"
        )
    return found


def _targets(value: Any, where: str, column: str) -> list[str]:
    """One target (a string) or several references (a non-empty list of strings)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise DataError(f"{where}: no targets in {column!r} (an empty list); expected one or more texts")
        return [text_field(item, where, column) for item in value]
    return [text_field(value, where, column)]


def _read_tsv(path: Path, lines: list[str], source_column: str, target_column: str) -> list[ParallelExample]:
    rows = iter(table_rows(path, lines, "\t"))
    header_line, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    for role, column in (("source", source_column), ("target", target_column)):
        if column not in header:
            raise DataError(
                f"{path}:{header_line}: no {role} column {column!r}; the header has {header} "
                f"(name the {role} column, {role}_column)"
            )
    source_index, target_index = header.index(source_column), header.index(target_column)
    examples = []
    for number, fields in rows:
        where = f"{path}:{number}"
        if len(fields) != len(header):
            raise DataError(
                f"{where}: {count_noun(len(fields), 'field')}; expected {len(header)} as in the header "
                f"{header} (TSV has no quoting: a tab inside a text splits it)"
            )
        source = text_field(fields[source_index], where, source_column)
        examples.append(
            ParallelExample(source, [text_field(fields[target_index], where, target_column)], where)
        )
    return examples


def _read_jsonl(
    path: Path, lines: list[str], source_column: str, target_column: str
) -> list[ParallelExample]:
    examples = []
    for where, record in jsonl_records(path, lines):
        for role, column in (("source", source_column), ("target", target_column)):
            if column not in record:
                raise DataError(
                    f"{where}: no {role} key {column!r}; the object has {list(record)} "
                    f"(name the {role} key, {role}_column)"
                )
        source = text_field(record[source_column], where, source_column)
        examples.append(ParallelExample(source, _targets(record[target_column], where, target_column), where))
    return examples


def read_parallel_table(
    path: str | os.PathLike[str],
    source_column: str = "source",
    target_column: str = "target",
    format: ParallelFormat = "auto",
) -> list[ParallelExample]:
    """Read (source, target) pairs from a TSV file with a header row or a JSONL file of objects.

    Args:
        path: the file; ``format="auto"`` picks the reader by suffix (.tsv, .jsonl/.ndjson).
        source_column: column/key of the source text.
        target_column: column/key of the target: a text; in JSONL also a list of texts, the
            references of one source (all pronunciations of a word, several translations).
        format: tsv (no quoting, so quotes in texts stay as they are) or jsonl (one object per line).
            Blank lines are skipped in both; a row is never merged with another of the same source.
    """
    path = Path(path)
    kind = _format_of(path, format)
    expected = "a TSV header and one row per example" if kind == "tsv" else "one JSON object per line"
    lines = read_text_lines(path, "no examples", expected)
    reader = _read_tsv if kind == "tsv" else _read_jsonl
    examples = reader(path, lines, source_column, target_column)
    if not examples:
        raise DataError(f"{path}: no examples (expected {expected})")
    return examples


def _translation_languages(feature: Any) -> list[str] | None:
    if isinstance(feature, datasets.Translation):
        return list(feature.languages)
    return list(feature) if isinstance(feature, dict) else None  # a plain struct of per-language texts


Rows = tuple[Iterable[tuple[Any, Any]], str, str]  # (source, target) per row, and the two names


def _translation_rows(dataset: datasets.Dataset, origin: str, source_lang: str, target_lang: str) -> Rows:
    columns = dataset.column_names
    if TRANSLATION_COLUMN not in columns:
        raise DataError(
            f"{origin}: no {TRANSLATION_COLUMN!r} column for source_lang/target_lang; the dataset has "
            f"{columns} (name source_column and target_column instead)"
        )
    languages = _translation_languages(dataset.features[TRANSLATION_COLUMN])
    for lang in (source_lang, target_lang):
        if languages is not None and lang not in languages:
            raise DataError(f"{origin}: no language {lang!r} in the translations; they have {languages}")
    pairs = dataset[TRANSLATION_COLUMN]
    rows = ((pair[source_lang], pair[target_lang]) for pair in pairs)
    return rows, f"{TRANSLATION_COLUMN}.{source_lang}", f"{TRANSLATION_COLUMN}.{target_lang}"


def _column_rows(dataset: datasets.Dataset, origin: str, source_column: str, target_column: str) -> Rows:
    columns = dataset.column_names
    for role, column in (("source", source_column), ("target", target_column)):
        if column not in columns:
            hint = ""
            if TRANSLATION_COLUMN in columns:
                languages = _translation_languages(dataset.features[TRANSLATION_COLUMN])
                hint = (
                    f" (to read its {TRANSLATION_COLUMN!r} column, give source_lang and target_lang: "
                    f"{languages})"
                )
            raise DataError(f"{origin}: no {role} column {column!r}; the dataset has {columns}{hint}")
    return zip(dataset[source_column], dataset[target_column], strict=True), source_column, target_column


def load_hub_parallel(
    name: str,
    split: str,
    config_name: str | None = None,
    source_column: str = "source",
    target_column: str = "target",
    source_lang: str | None = None,
    target_lang: str | None = None,
) -> list[ParallelExample]:
    """Read one split of a parallel dataset through ``datasets``.

    ``name`` is a Hub name (online), a ``save_to_disk`` directory, or a local directory of data
    files. Sources and targets come from ``source_column`` and ``target_column`` (a target column
    may hold lists of texts: several references), or, when ``source_lang`` and ``target_lang`` are
    given, from the ``translation`` column of {language: text} dicts that WMT and OPUS datasets use
    (``load_hub_parallel("wmt16", "train", "de-en", source_lang="de", target_lang="en")``).
    ``where`` is ``name[split]:ROW`` with ROW the 0-based row index.
    """
    if (source_lang is None) != (target_lang is None):
        raise DataError(
            f"dataset {name!r}: source_lang={source_lang!r} but target_lang={target_lang!r}; give both "
            f"(to read the {TRANSLATION_COLUMN!r} column) or neither (to read source_column/target_column)"
        )
    dataset = load_hub_split(name, split, config_name)
    origin = f"dataset {name!r}[{split}]"
    if source_lang is not None and target_lang is not None:
        rows, source_name, target_name = _translation_rows(dataset, origin, source_lang, target_lang)
    else:
        rows, source_name, target_name = _column_rows(dataset, origin, source_column, target_column)
    examples = []
    for row, (source, target) in enumerate(rows):
        where = f"{name}[{split}]:{row}"
        examples.append(
            ParallelExample(
                text_field(source, where, source_name), _targets(target, where, target_name), where
            )
        )
    if not examples:
        raise DataError(f"{origin}: no examples (the split is empty)")
    return examples
