"""Reading a run's ``metrics.csv`` (Lightning's CSV log: one row per logging step, sparse columns)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from seqlab.data.errors import DataError


def read_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Metric name -> (step, value) pairs in logged order, from ``<run_dir>/metrics.csv``.

    Raises:
        DataError: no metrics file, or one without a ``step`` column.
    """
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise DataError(f"{path}: no metrics file (is {run_dir} a seqlab run directory?)")
    series: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if "step" not in (reader.fieldnames or []):
            raise DataError(f"{path}: expected a 'step' column, found {reader.fieldnames}")
        for row in reader:
            if row.get("step") in (None, "", "step"):  # a header repeated by a resumed run
                continue
            step = int(float(row["step"]))
            for key, value in row.items():
                if key in ("step", "epoch") or value in (None, ""):
                    continue
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    series.setdefault(key, []).append((step, number))
    return series


def best_value(values: list[tuple[int, float]], mode: str) -> float | None:
    if not values:
        return None
    numbers = [v for _, v in values]
    return min(numbers) if mode == "min" else max(numbers)
