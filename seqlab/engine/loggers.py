"""Loggers: a CSV log that is always written, and Weights & Biases (offline unless configured)."""

from __future__ import annotations

import csv
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


@dataclass
class WandbSettings:
    """Weights & Biases settings. ``offline`` needs no account; ``wandb sync <run dir>/wandb`` uploads later.

    Args:
        mode: ``offline``, ``online`` or ``disabled``.
        project: W&B project.
        entity: W&B team or user (``None``: your default).
        group: group runs together (sweeps use this).
        tags: free-form tags.
        log_model: upload checkpoints as W&B artifacts (``True``, ``"all"`` or ``False``).
    """

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "seqlab"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    log_model: bool | Literal["all"] = False


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; on resume we append to it instead."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class AppendingCSVLogger(CSVLogger):
    """CSVLogger that keeps the history of a resumed run in the same ``metrics.csv``."""

    @property
    def experiment(self) -> _AppendingWriter:  # type: ignore[override]
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_run_id(run_dir: Path) -> str:
    """The W&B run id of a run directory, created once, so a resumed run continues the same W&B run."""
    path = run_dir / "wandb_run_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)
    path.write_text(run_id + "\n")
    return run_id


def build_loggers(run_dir: Path, name: str, wandb: WandbSettings) -> list[Logger]:
    """CSV into the run directory, plus W&B unless disabled."""
    loggers: list[Logger] = [
        AppendingCSVLogger(
            save_dir=str(run_dir.parent.parent), name=run_dir.parent.name, version=run_dir.name
        )
    ]
    if wandb.mode != "disabled":
        loggers.append(
            WandbLogger(
                name=f"{name}/{run_dir.name}",
                project=wandb.project,
                entity=wandb.entity,
                group=wandb.group,
                tags=list(wandb.tags) or None,
                save_dir=str(run_dir.resolve()),
                offline=wandb.mode == "offline",
                id=wandb_run_id(run_dir),
                resume="allow",
                log_model=wandb.log_model,
            )
        )
    return loggers
