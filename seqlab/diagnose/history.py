"""A run's gradient-norm history, read back from the files ``seqlab fit`` leaves in its run directory."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from seqlab.data.errors import DataError
from seqlab.reporting.metrics_file import cell_number, readable_rows, whole_number

NO_CLIP = "no clipping"


@dataclass
class GradHistory:
    """``train/grad_norm`` (the pre-clipping global norm) by step, and the run's clipping threshold."""

    label: str
    steps: list[int]
    norms: list[float]
    clip: float | None  # None: the run did not clip (or its config could not be read)


def clip_norm_of_run(run_dir: Path) -> float | str | None:
    """``model.init_args.gradient_clip_norm`` from the run's ``config.yaml``; ``NO_CLIP`` when it is
    null, ``None`` when the run has no readable config."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text()) or {}
    init_args = (config.get("model") or {}).get("init_args") or {}
    if "gradient_clip_norm" not in init_args:
        return None
    value = init_args["gradient_clip_norm"]
    return NO_CLIP if value is None else float(value)


def read_grad_history(run_dir: str | os.PathLike[str]) -> GradHistory:
    """The ``train/grad_norm`` rows of ``<run_dir>/metrics.csv``, labelled ``name/version (clip ...)``."""
    run_dir = Path(run_dir).resolve()
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics.csv (is {run_dir} a seqlab run directory?)")
    steps, norms = [], []
    with open(path, newline="", encoding="utf-8", errors="replace") as file:  # a crash may leave damage
        for row in readable_rows(csv.DictReader(file)):
            step, norm = whole_number(row.get("step")), cell_number(row.get("train/grad_norm"))
            if step is not None and norm is not None:  # a non-finite norm is kept: it is what is shown
                steps.append(step)
                norms.append(norm)
    if not norms:
        raise DataError(f"{path}: no train/grad_norm values (was the run trained with logging on?)")
    clip = clip_norm_of_run(run_dir)
    clip_text = "clip ?" if clip is None else clip if clip == NO_CLIP else f"clip {clip:g}"
    label = f"{run_dir.parent.name}/{run_dir.name} ({clip_text})"
    return GradHistory(label, steps, norms, clip if isinstance(clip, float) else None)
