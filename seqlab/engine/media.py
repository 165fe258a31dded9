"""Qualitative outputs of a run (figures, tables): saved in the run directory for everyone, and logged to
W&B where a W&B logger is configured. Rank 0 only; callers check ``trainer.is_global_zero``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from matplotlib.figure import Figure


def media_dir(trainer: L.Trainer) -> Path:
    """``<run dir>/media``, created on first use. (Not ``trainer.log_dir``: that broadcasts from rank 0,
    a collective call that hangs when only rank 0 makes it.)"""
    base = getattr(trainer.logger, "log_dir", None) or trainer.default_root_dir
    path = Path(base) / "media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wandb_loggers(trainer: L.Trainer) -> list[WandbLogger]:
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def log_figure(trainer: L.Trainer, key: str, fig: Figure) -> Path:
    """Save ``fig`` as ``media/<key>-step<N>.png`` and log it as a W&B image under ``key``."""
    path = media_dir(trainer) / f"{key.replace('/', '_')}-step{trainer.global_step}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    for logger in _wandb_loggers(trainer):
        logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
    return path


def log_table(trainer: L.Trainer, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write ``media/<key>-step<N>.csv`` and log the rows as a W&B table under ``key``."""
    path = media_dir(trainer) / f"{key.replace('/', '_')}-step{trainer.global_step}.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows)
    for logger in _wandb_loggers(trainer):
        logger.log_table(
            key=key, columns=list(columns), data=[list(r) for r in rows], step=trainer.global_step
        )
    return path
