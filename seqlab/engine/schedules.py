"""Learning-rate schedules sized from the run's real number of optimizer steps.

A ``CosineAnnealingLR`` with ``T_max: 7608`` is right for one dataset and batch size only: on a smaller
file the run ends with the learning rate still high, on a larger one the cosine climbs back up after
``T_max`` steps. :class:`WarmupCosine` leaves ``total_steps`` out of the config; when the fit starts,
:class:`SizeSchedules` sets it to Lightning's ``trainer.estimated_stepping_batches`` (``max_steps`` if
set, else ``max_epochs`` x training batches per epoch / ``accumulate_grad_batches``).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler


class WarmupCosine(LRScheduler):
    """Linear warm-up over ``warmup_fraction`` of the run, then cosine decay to ``min_lr_ratio`` x lr;
    stepped once per optimizer step.

    Args:
        optimizer: the task's optimizer.
        warmup_fraction: share of the optimizer steps spent warming up from near 0 (0: none).
        total_steps: optimizer steps of the run; ``None`` (the usual): sized by the trainer when the
            fit starts (:class:`SizeSchedules`). Until then the learning rate stays at its base.
        min_lr_ratio: the learning rate at the end, as a share of the base one.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_fraction: float = 0.0,
        total_steps: int | None = None,
        min_lr_ratio: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be from 0 to below 1, got {warmup_fraction}")
        if not 0 <= min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be from 0 to 1, got {min_lr_ratio}")
        self.warmup_fraction, self.total_steps, self.min_lr_ratio = warmup_fraction, total_steps, min_lr_ratio
        self.sized_by_trainer = total_steps is None
        super().__init__(optimizer, last_epoch)

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_fraction * self.total_steps) if self.total_steps else 0

    def factor(self, step: int) -> float:
        """The share of the base learning rate after ``step`` optimizer steps."""
        if not self.total_steps:
            return 1.0
        warmup = self.warmup_steps
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def resize(self, total_steps: int) -> None:
        """Size the schedule to ``total_steps`` and set the learning rates for the step it is at."""
        self.total_steps = total_steps
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr


class SizeSchedules(L.Callback):
    """When a fit starts (after a resume has restored the schedules): size every :class:`WarmupCosine`
    left without ``total_steps`` from the trainer, and say so in one line; note a ``CosineAnnealingLR``
    whose ``T_max`` is not the run's length."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for config in trainer.lr_scheduler_configs:
            scheduler: Any = config.scheduler
            if isinstance(scheduler, WarmupCosine) and scheduler.sized_by_trainer:
                total = _optimizer_steps(trainer)
                if total is None:
                    continue
                scheduler.resize(total)
                rank_zero_info(
                    f"learning rate: {scheduler.warmup_steps} warm-up steps, then cosine decay to "
                    f"{scheduler.min_lr_ratio:g} x lr over {total} optimizer steps"
                )
            elif isinstance(scheduler, CosineAnnealingLR) and config.interval == "step":
                total = _optimizer_steps(trainer)
                if total is not None and scheduler.T_max != total:
                    rank_zero_info(
                        f"note: CosineAnnealingLR's T_max is {scheduler.T_max} but this run has {total} "
                        "optimizer steps; seqlab.engine.schedules.WarmupCosine sizes itself to the run"
                    )


def _optimizer_steps(trainer: L.Trainer) -> int | None:
    """The fit's optimizer steps as Lightning estimates them (``None``: unbounded)."""
    total = trainer.estimated_stepping_batches
    return int(total) if math.isfinite(total) and total > 0 else None
