"""The places where seqlab reads Lightning's private attributes, each behind one small function.

Lightning has no public way to ask these things; each function says what it needs and why. When a
Lightning upgrade renames one of them, this is the one file to change (each function degrades to a
safe answer where that is possible). ``seqlab.data.batching.batches_trained`` reads the fit loop's
(public) batch progress itself: ``data`` sits below ``engine`` and may not import it.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger


def started_wandb_run(logger: WandbLogger) -> Any | None:
    """The W&B run of ``logger`` if it was started, else ``None``.

    ``logger.experiment`` would start one (a new W&B run, files and all) just to be finished; the
    attribute behind it says whether there is one."""
    return logger._experiment


def should_update_logs(trainer: L.Trainer) -> bool:
    """Whether Lightning hands this step's metrics to the loggers (every ``log_every_n_steps``).

    Metrics that cost something to compute (throughput, the learning rate) are computed only on
    those steps, as Lightning's own LearningRateMonitor does; the trainer has no public flag."""
    return bool(trainer._logger_connector.should_update_logs)


def validates_after_this_batch(trainer: L.Trainer) -> bool:
    """Whether Lightning runs a validation right after this batch, asking the training loop as it
    will decide. ``False`` if a Lightning version lacks the loop's private method: the caller then
    does a little extra work, never less."""
    loop = trainer.fit_loop.epoch_loop
    decide = getattr(loop, "_should_check_val_fx", None)
    if decide is None or getattr(loop, "_skip_next_val", False):
        return False
    try:
        return bool(decide(trainer.fit_loop._data_fetcher))
    except (AttributeError, TypeError, AssertionError):
        return False


def replace_saved_hparam(module: L.LightningModule, key: str, value: Any) -> None:
    """Set a hyperparameter after ``save_hyperparameters``, in ``hparams`` and in the copy Lightning
    keeps for the loggers (``hparams.yaml``, W&B config), which has no public setter."""
    module.hparams[key] = value
    module._hparams_initial[key] = copy.deepcopy(value)
