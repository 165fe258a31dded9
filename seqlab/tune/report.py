"""The Lightning callback that turns a seqlab run into a Tune trial: after every validation it reports
the run's metrics (and, for PBT, a checkpoint) to Ray."""

from __future__ import annotations

import atexit
import tempfile
import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from seqlab.engine.loggers import finish_wandb

CHECKPOINT_FILE = "trial.ckpt"  # the file inside a reported Tune checkpoint
STOPPED_MARKER = "stopped_by_scheduler"  # in the run directory of a trial the scheduler stopped


class ReportToTune(Checkpoint):
    """Reports the logged metrics, ``iteration`` (validations so far, the schedulers' clock), step and
    epoch to Ray after every validation.

    Args:
        metric: the sweep's metric; a trial that never logs it fails with the metrics it does log.
        checkpoints: also report a checkpoint (PBT copies the best trials' checkpoints to the worst).
        lr: learning rate to impose after a restore. A checkpoint brings back its optimizer state,
            learning rate included; PBT's mutated rate must win over the copied one.
        via_train: the run is one worker of a Ray Train (DDP) trial; every rank reports to Ray Train,
            which hands rank 0's metrics on to Tune.

    A :class:`~lightning.pytorch.callbacks.Checkpoint` only so that Lightning orders it with the
    checkpoint callbacks, after seqlab's own: when it reports, this validation's ``best.ckpt`` and
    ``last.ckpt`` are on disk, whatever the scheduler then decides.
    """

    def __init__(
        self, metric: str, checkpoints: bool = False, lr: float | None = None, via_train: bool = False
    ) -> None:
        self.metric, self.checkpoints, self.lr, self.via_train = metric, checkpoints, lr, via_train
        self.iteration = 0
        self._closed = threading.Event()

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.iteration = int(state_dict.get("iteration", 0))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A stopped trial's process exits while this thread still closes the W&B run; hold the exit
        # until it has (registered after W&B's own exit hook, so it runs before it).
        atexit.register(self._closed.wait, 60)
        if self.lr is None:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.lr
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [self.lr] * len(scheduler.base_lrs)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics: dict[str, Any] = {
            k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1
        }
        # A validation metric is checked at the sanity validation too: a misspelt one fails each trial
        # in seconds, not after its first validation interval (training metrics are not logged yet).
        if self.metric not in metrics and (self.metric.startswith("val/") or not trainer.sanity_checking):
            logged = ", ".join(sorted(metrics)) or "nothing"
            raise KeyError(f"the sweep's metric {self.metric!r} is not logged by this task; it logs {logged}")
        if trainer.sanity_checking:
            return
        self.iteration += 1
        metrics.update(iteration=self.iteration, step=trainer.global_step, epoch=trainer.current_epoch)
        if self.via_train:
            from ray import train as report_to
        else:
            from ray import tune as report_to
        try:
            if not self.checkpoints:
                report_to.report(metrics)
                return
            with tempfile.TemporaryDirectory(prefix="seqlab-tune-") as folder:
                trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
                report_to.report(metrics, checkpoint=report_to.Checkpoint.from_directory(folder))
        except SystemExit:
            # The scheduler stopped this trial: Ray ends the trial with SystemExit inside report and
            # soon ends its process. This validation's checkpoints are already saved (this callback
            # runs after the checkpoint callback); close W&B now and leave the marker for the table.
            if trainer.is_global_zero:
                Path(trainer.default_root_dir, STOPPED_MARKER).write_text(f"{self.iteration}\n")
            finish_wandb(trainer.loggers, best_effort=True)
            self._closed.set()
            raise

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._closed.set()
