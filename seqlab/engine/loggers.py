"""Loggers: a CSV log that is always written, and Weights & Biases (offline unless configured)."""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from seqlab.engine.lightning_internals import started_wandb_run, without_anonymous_setting
from seqlab.engine.logger_settings import LoggerKind, WandbSettings


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


def build_loggers(
    run_dir: Path,
    name: str,
    wandb: WandbSettings,
    kind: LoggerKind = "wandb",
    evaluation: str | None = None,
) -> list[Logger]:
    """CSV into the run directory (always: ``seqlab runs`` and ``seqlab report`` read it), plus W&B
    (unless its mode is ``disabled``) or TensorBoard (``<run dir>/tensorboard``).

    ``evaluation`` (``validate``, ``test``): ``run_dir`` is that evaluation's own record inside a run
    (``<run>/evals/test-0``); its W&B run is a new one of that job type, named after the run, so the
    fit's W&B run and config are left alone."""
    loggers: list[Logger] = [
        AppendingCSVLogger(
            save_dir=str(run_dir.parent.parent), name=run_dir.parent.name, version=run_dir.name
        )
    ]
    if kind == "tensorboard":
        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""))
    if kind == "wandb" and wandb.mode != "disabled":
        extra = {"job_type": evaluation} if evaluation else {}
        label = f"{run_dir.parent.parent.name}/{run_dir.name}" if evaluation else run_dir.name
        loggers.append(
            without_anonymous_setting(
                WandbLogger(
                    name=f"{name}/{label}",
                    project=wandb.project,
                    entity=wandb.entity,
                    group=wandb.group,
                    tags=list(wandb.tags) or None,
                    save_dir=str(run_dir.resolve()),
                    offline=wandb.mode == "offline",
                    id=wandb_run_id(run_dir),
                    resume="allow",
                    # Lightning refuses log_model offline; offline runs log checkpoints at the end instead
                    log_model=wandb.log_model if wandb.mode == "online" else False,
                    **extra,
                )
            )
        )
    return loggers


def tokenizer_files(data_state: dict[str, Any], folder: Path) -> list[Path]:
    """Write every fitted tokenizer in a DataModule's ``state_dict`` into ``folder``: a sentencepiece
    model as its own ``.model`` file (loadable by sentencepiece), anything else as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, state in data_state.items():
        if not isinstance(state, dict) or "type" not in state:
            continue
        if state["type"] == "sentencepiece":
            path = folder / f"{key}.model"
            path.write_bytes(state["model"])
        else:
            path = folder / f"{key}.json"
            path.write_text(json.dumps(state, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        written.append(path)
    return written


def log_artifact(logger: WandbLogger, kind: str, files: list[Path]) -> None:
    """Log ``files`` as one artifact of type ``kind`` (``model``, ``tokenizer``) of the W&B run. Offline
    runs keep it with their files; ``wandb sync`` uploads it."""
    import wandb

    if not files:
        return
    artifact = wandb.Artifact(f"{kind}-{logger.experiment.id}", type=kind)
    for path in files:
        artifact.add_file(str(path))
    logger.experiment.log_artifact(artifact)


def finish_wandb(loggers: Iterable[Logger], exit_code: int | None = None, best_effort: bool = False) -> None:
    """End the W&B runs among ``loggers`` that were started, so their files are complete and a later
    run in this process starts afresh (the one place seqlab finishes W&B runs). ``best_effort``: a
    failure to finish one is ignored (the process is on its way out anyway).

    ``run.finish()`` returns before W&B's service has written the run's last records (its offline
    ``run-*.wandb`` file still grew afterwards), so once no W&B run is left in this process the
    service is shut down too: when this returns, nothing writes to the run's files any more."""
    import wandb

    finished = False
    for logger in loggers:
        if not isinstance(logger, WandbLogger) or (run := started_wandb_run(logger)) is None:
            continue
        try:
            run.finish(exit_code=exit_code)
            finished = True
        except Exception:
            if not best_effort:
                raise
    if finished and wandb.run is None:  # a run of the caller's own would be finished by the teardown
        try:
            wandb.teardown()
        except (Exception, SystemExit):  # the service reported a failure of its own at shutdown
            if not best_effort:
                raise
