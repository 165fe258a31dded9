"""Weight averaging: validate, checkpoint and deploy an exponential moving average of the weights.

The average moves less from step to step than the weights do, so which epoch ``best.ckpt`` happens to
catch matters less (on CLINC150 the seed-to-seed spread of a fit is larger than most settings'
effect). Built on Lightning's ``WeightAveraging``: validation swaps the average in, and each checkpoint's
``state_dict`` holds the average (the weights being trained go under ``current_model_state``), so
``seqlab test``, ``predict`` and ``export`` use the average and a resumed fit continues both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch import nn
from torch.optim.swa_utils import get_ema_avg_fn

from seqlab.engine.errors import SettingError

_MODULE_STATE = frozenset(vars(nn.Module()))  # what every module has: parameters, buffers, submodules, hooks
_PLAIN = (bool, int, float, str, type(None), torch.device, torch.dtype)


class ExponentialAveraging(WeightAveraging):
    """Keep ``average = decay * average + (1 - decay) * weights`` after each optimizer step from
    ``start_step`` on; the average is what validation, checkpoints and everything after a fit use.

    Args:
        decay: between 0 and 1; the average spans about ``1 / (1 - decay)`` steps (0.999: 1,000).
        start_step: optimizer steps trained before the average starts (it starts as a copy of the
            weights then), so the random first weights do not linger in it.
    """

    def __init__(self, decay: float = 0.999, start_step: int = 0) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1:
            raise SettingError(f"ExponentialAveraging decay must be above 0 and below 1, got {decay!r}")
        if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
            raise SettingError(
                f"ExponentialAveraging start_step must be a whole number >= 0, got {start_step!r}"
            )
        super().__init__(avg_fn=get_ema_avg_fn(decay))
        self.decay, self.start_step = float(decay), start_step

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and step_idx >= self.start_step

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # The average is a deep copy of the task, used only for its parameters and buffers. Everything
        # else the task holds is left out of the copy: its trainer (under DDP the strategy holds a lock,
        # which cannot be copied), the optimizer factories, what it was handed of its data (bound
        # methods of the DataModule, encoded splits behind them). All of it is given back after.
        state = vars(pl_module)
        kept = {k: v for k, v in state.items() if k not in _MODULE_STATE and not isinstance(v, _PLAIN)}
        state.update(dict.fromkeys(kept))
        try:
            super().setup(trainer, pl_module, stage)
        finally:
            state.update(kept)


def refuse_resume_without_averaging(
    ckpt_path: str, checkpoint: Mapping[str, Any], callbacks: Sequence[Any]
) -> None:
    """A checkpoint written with weight averaging holds the average as its weights: resumed without
    the callback, a fit would go on from the average and lose the weights it was training."""
    if "current_model_state" in checkpoint and not any(isinstance(c, WeightAveraging) for c in callbacks):
        raise SettingError(
            f"{ckpt_path} was trained with weight averaging (its weights are the average): resume it with "
            "the same --trainer.callbacks (e.g. seqlab.engine.averaging.ExponentialAveraging, as the run's "
            "config.yaml lists), or test, predict and export with it as it is"
        )
