"""The places where seqlab reads Lightning's private attributes, each behind one small function.

Lightning has no public way to ask these things; each function says what it needs and why. When a
Lightning upgrade renames one of them, this is the one file to change (each function degrades to a
safe answer where that is possible). The DataModules' resumable loaders get the position in the epoch
from here too (:func:`batches_trained`, handed to ``seqlab.data`` on import: data sits below the engine).
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from seqlab.data.modules.batching import set_progress_reader


def started_wandb_run(logger: WandbLogger) -> Any | None:
    """The W&B run of ``logger`` if it was started, else ``None``.

    ``logger.experiment`` would start one (a new W&B run, files and all) just to be finished; the
    attribute behind it says whether there is one."""
    return logger._experiment


def without_anonymous_setting(logger: WandbLogger) -> WandbLogger:
    """``logger`` minus the ``anonymous=None`` Lightning always hands to ``wandb.init``, which W&B
    answers with "The anonymous setting has no effect" on every run; the init arguments have no
    public setter."""
    logger._wandb_init.pop("anonymous", None)
    return logger


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


def is_last_training_batch(trainer: L.Trainer) -> bool:
    """Whether the batch that just ended is the fit's last: ``max_steps`` is reached, or it is the
    last batch of the last epoch (the epoch loop's ``is_last_batch``: undocumented loop state)."""
    if trainer.max_steps is not None and 0 <= trainer.max_steps <= trainer.global_step:
        return True
    max_epochs = trainer.max_epochs
    if max_epochs is None or max_epochs < 0 or trainer.current_epoch + 1 < max_epochs:
        return False
    return bool(getattr(trainer.fit_loop.epoch_loop.batch_progress, "is_last_batch", False))


def count_batch_of_final_validation(trainer: L.Trainer) -> None:
    """On resuming from a checkpoint written by a validation that ``should_stop`` asked for, count the
    batch before it as stepped for the loggers (``_batches_that_stepped``), as Lightning does itself
    when the checkpoint came from a scheduled validation; else the next step logs under the last one's
    number."""
    trainer.fit_loop.epoch_loop._batches_that_stepped += 1


def batches_trained(trainer: L.Trainer) -> int:
    """Training batches of the current epoch whose update is in the weights: where a resumed loader
    picks up. Lightning's ``processed``, not ``completed``: a checkpoint written in
    ``on_train_batch_end`` (``--run.checkpoint_every_n_steps``) already holds this batch's update,
    but ``completed`` counts it only afterwards, so resuming from it would train that batch twice.
    At every other save point (after validation, on a stop signal) the two are equal. The fit loop's
    batch progress is public but undocumented loop state, hence here."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.processed


set_progress_reader(batches_trained)  # the DataModules' resumable loaders ask through this


def replace_saved_hparam(module: L.LightningModule, key: str, value: Any) -> None:
    """Set a hyperparameter after ``save_hyperparameters``, in ``hparams`` and in the copy Lightning
    keeps for the loggers (``hparams.yaml``, W&B config), which has no public setter."""
    module.hparams[key] = value
    module._hparams_initial[key] = copy.deepcopy(value)
