"""Reading tabular and Hugging Face data, shared by the classification and parallel-data readers:
delimited rows with their line numbers, text fields checked with a ``file:line`` message, and one
split of a dataset loaded by Hub name or from a local directory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets

from seqlab.data.errors import DataError


def count_noun(number: int, noun: str) -> str:
    """``"1 example"``, ``"3 examples"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def pick_column(columns: Sequence[str], named: str | None, defaults: Sequence[str]) -> str | None:
    """The column ``named``, spelt as given; else the first of ``defaults`` in any case (spreadsheets
    export headers like ``Text``); ``None`` if there is none."""
    if named is not None:
        return named if named in columns else None
    by_lower = {c.lower(): c for c in reversed(columns)}
    return next((by_lower[c] for c in defaults if c in by_lower), None)


def case_hint(name: str, columns: Sequence[str]) -> str:
    """`` (names are case-sensitive: 'Label'?)`` where ``name`` differs from a column only by case."""
    same = [c for c in columns if c.lower() == name.lower()]
    return f" (names are case-sensitive: {same[0]!r}?)" if same else ""


def kind_of(value: Any) -> str:
    """``value`` and what it is, in the words of the JSON it was read from: ``true (a boolean)``,
    ``1.0 (a number)``, ``null``, ``[1] (a list)``."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    kind = kinds.get(type(value), f"a {type(value).__name__}")
    return f"{json.dumps(value, ensure_ascii=False, default=repr)} ({kind})"


def text_field(value: Any, where: str, column: str) -> str:
    """``value`` if it is a non-empty string; otherwise an error naming ``where`` and ``column``."""
    if not isinstance(value, str):
        raise DataError(f"{where}: the text ({column!r}) is {kind_of(value)}; expected a string")
    if not value.strip():
        raise DataError(f"{where}: empty text in column {column!r}; expected a non-empty text")
    return value


def table_rows(path: Path, lines: list[str], delimiter: str) -> Iterable[tuple[int, list[str]]]:
    """(first line number, fields) of each non-blank row; TSV unquoted, CSV with quoting across lines."""
    if delimiter == "\t":
        for number, line in enumerate(lines, 1):
            if line.strip() or "\t" in line:  # whitespace-only lines are skipped, "\t" is a row
                yield number, line.split("\t")
        return
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            reason = str(err)
            if "new-line character" in reason:
                reason = "a carriage return inside an unquoted field"
            elif reader.line_num > start:
                reason += f"; the row runs from line {start} to {reader.line_num}, is a quote left open?"
            raise DataError(f"{path}:{start}: malformed CSV ({reason}); expected RFC 4180 quoting") from None
        if len(row) > 1 or (row and row[0].strip()):  # blank and whitespace-only lines are skipped
            yield start, row
        start = reader.line_num + 1


def is_saved_dataset(name: str) -> bool:
    folder = Path(name)
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def load_hub_split(name: str, split: str, config_name: str | None = None) -> datasets.Dataset:
    """One split of a dataset: a ``save_to_disk`` directory, else ``datasets.load_dataset(name)`` (a Hub
    name when online, or a local directory of data files)."""
    origin = f"dataset {name!r}"
    try:
        if is_saved_dataset(name):
            loaded = datasets.load_from_disk(name)
        else:
            loaded = datasets.load_dataset(name, config_name)
    except (FileNotFoundError, ConnectionError) as err:
        raise DataError(
            f"{origin}: cannot load it ({err}); expected a Hub dataset name (online) or a local directory"
        ) from None
    if isinstance(loaded, datasets.Dataset):
        if loaded.split is not None and str(loaded.split) != split:
            raise DataError(f"{origin}: a saved single split {str(loaded.split)!r}; expected split {split!r}")
        return loaded
    if split not in loaded:
        raise DataError(f"{origin}: no split {split!r}; it has {sorted(loaded)}")
    return loaded[split]


def jsonl_records(path: Path, lines: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``path:LINE``, object) for every non-blank line of a JSON Lines file; anything but one JSON
    object per line is an error naming the line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{where}: invalid JSON ({err.msg} at column {err.colno}); expected one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: a JSON {type(record).__name__}; expected one JSON object per line")
        yield where, record
