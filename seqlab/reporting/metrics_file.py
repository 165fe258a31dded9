"""Reading a run's ``metrics.csv`` (Lightning's CSV log: one row per logging step, sparse columns)."""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Iterator
from pathlib import Path

from seqlab.data.errors import DataError


def read_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Metric name -> (step, value) pairs in logged order, from ``<run_dir>/metrics.csv``.

    A file damaged by a crash (the last row cut off, bytes that are not UTF-8, the NUL blocks a file
    system can leave after a power loss) gives what its readable rows hold: rows whose step is not a
    number are passed over, as is a header a resumed run repeated.

    Raises:
        DataError: no metrics file, or one without a ``step`` column.
    """
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise DataError(f"{path}: no metrics file (is {run_dir} a seqlab run directory?)")
    series: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        reader = csv.DictReader(file)
        try:
            fields = reader.fieldnames
        except csv.Error as err:
            raise DataError(f"{path}: not a CSV file ({err})") from None
        if "step" not in (fields or []):
            raise DataError(f"{path}: expected a 'step' column, found {fields}")
        for row in readable_rows(reader):
            step = whole_number(row.get("step"))
            if step is None:
                continue
            for key, value in row.items():
                number = None if key in ("step", "epoch") else cell_number(value)
                if number is not None and math.isfinite(number):
                    series.setdefault(key, []).append((step, number))
    return series


def readable_rows(reader: csv.DictReader) -> Iterator[dict[str, str | None]]:
    """The rows up to the first one the csv module cannot parse (damage goes to the end of the file)."""
    with contextlib.suppress(csv.Error):
        yield from reader


def cell_number(text: str | None) -> float | None:
    """A cell's number (NaN and infinity included), or ``None`` for an empty or unreadable cell."""
    try:
        return float(text) if text else None
    except ValueError:
        return None


def whole_number(text: str | None) -> int | None:
    """A cell's number as a whole number (steps are written ``12`` or ``12.0``), or ``None``."""
    number = cell_number(text)
    return int(number) if number is not None and math.isfinite(number) else None


def best_value(values: list[tuple[int, float]], mode: str) -> float | None:
    if not values:
        return None
    numbers = [v for _, v in values]
    return min(numbers) if mode == "min" else max(numbers)
