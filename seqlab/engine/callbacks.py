"""Callbacks the engine always adds: checkpoints, and saving the resolved config without clobbering."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback

from seqlab.engine.lightning_internals import (
    count_batch_of_final_validation,
    is_last_training_batch,
    validates_after_this_batch,
)


class _Checkpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` is always recent.

    Lightning writes ``last.ckpt`` only in a step where it wrote a top-k checkpoint, so once the
    monitored metric stops improving ``last.ckpt`` stops advancing (a killed run would resume from
    the last improvement). Here it is written after every validation, whatever the metric did, at the
    end of training, and optionally every ``every_n_steps`` optimizer steps and every ``every_minutes``
    minutes in between (after a batch, on every process together as Lightning's own saves are).
    Partial files that a killed writer left behind are removed when a fit starts.
    """

    def __init__(
        self, *args: Any, every_n_steps: int | None = None, every_minutes: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.every_n_steps, self.every_minutes = every_n_steps, every_minutes
        self._last_written_at: float | None = None  # time.monotonic() of the last last.ckpt write

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit" and trainer.is_global_zero and self.dirpath and Path(self.dirpath).is_dir():
            for partial in Path(self.dirpath).glob(".*.ckpt.*.partial"):
                partial.unlink(missing_ok=True)  # AtomicCheckpointIO's temporary file of a killed write

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._last_written_at = time.monotonic()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        # A validation right after this batch writes last.ckpt itself: a cadence write now is wasted.
        if self._cadence_due(trainer) and not validates_after_this_batch(trainer):
            self.save_last_now(trainer)

    def _cadence_due(self, trainer: L.Trainer) -> bool:
        """Whether ``every_n_steps`` or ``every_minutes`` asks for ``last.ckpt`` now; the same answer
        on every process (the step count is, the clock is rank 0's), or the save's collectives hang."""
        due = bool(self.every_n_steps) and trainer.global_step % self.every_n_steps == 0
        if self.every_minutes is not None:
            started = self._last_written_at if self._last_written_at is not None else time.monotonic()
            late = time.monotonic() - started >= self.every_minutes * 60
            due = bool(trainer.strategy.broadcast(late, src=0)) or due
        return due

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self.save_last_now(trainer)  # whatever the metric did

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self.save_last_now(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.save_last_now(trainer)

    def save_last_now(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` for the current step unless a checkpoint of this step was written already
        (between batches only: after a validation, at a cadence step, at the end of training, or when
        a stop signal ended it)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_written_at = time.monotonic()  # every_minutes counts from any write of last.ckpt


def checkpoint_callback(
    run_dir: Path,
    monitor: str,
    mode: str,
    every_n_steps: int | None = None,
    every_minutes: float | None = None,
) -> ModelCheckpoint:
    """``best.ckpt`` by the task's validation metric and ``last.ckpt`` for resuming (see
    :class:`_Checkpoint` for when ``last.ckpt`` is written)."""
    return _Checkpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        every_n_steps=every_n_steps,
        every_minutes=every_minutes,
    )


class FinalValidation(L.Callback):
    """Validate after the fit's last batch when Lightning would not (a fit that ends on ``max_steps``
    or ``max_epochs`` between two validations), so the final metrics, ``best.ckpt`` and the summary
    describe the weights the run ends with. Lightning validates after a batch at which
    ``should_stop`` is set (as EarlyStopping does); with validation off it does not.

    A run resumed from that validation's checkpoint must not log its next step under the last one's
    number (Lightning recognises only its scheduled validations): the step is kept in the state."""

    def __init__(self) -> None:
        self.validated_step: int | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"validated_step": self.validated_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validated_step = state_dict.get("validated_step")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.validated_step is not None and self.validated_step == trainer.global_step:
            count_batch_of_final_validation(trainer)
        self.validated_step = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if is_last_training_batch(trainer) and not validates_after_this_batch(trainer):
            trainer.should_stop = True
            if validates_after_this_batch(trainer):  # not when validation is off this epoch
                self.validated_step = trainer.global_step


class RandomState(L.Callback):
    """Random number generator states (Python, NumPy, torch CPU and CUDA) of every rank go into each
    checkpoint and come back on resume, so dropout draws the masks an uninterrupted run would.

    Exact only because nothing else draws from the global generators between a checkpoint and the
    next training step: seqlab's data loaders have generators of their own (a DataLoader otherwise
    draws a seed from the global generator each time it is iterated, and a resumed run iterates
    its loaders at other moments than an uninterrupted one)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None
        self._trainer: L.Trainer | None = None

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        mine = {
            "python": random.getstate(),
            "numpy": [
                name,
                torch.from_numpy(keys.astype(np.int64)),
                pos,
                has_gauss,
                gauss,
            ],  # weights_only-safe
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return {"ranks": [mine]}
        gathered: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(gathered, mine)
        return {"ranks": gathered}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loaded, self._loaded = self._loaded, None
        ranks = (loaded or {}).get("ranks") or []
        if len(ranks) != trainer.world_size:
            return  # a fresh run, or a different number of processes: nothing to continue
        mine = ranks[trainer.global_rank]
        random.setstate(mine["python"])
        name, keys, pos, has_gauss, gauss = mine["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(mine["torch"])
        if mine["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(mine["cuda"])


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


class SaveResolvedConfig(SaveConfigCallback):
    """Saves the resolved config as ``config.yaml`` in the directory the command records into (the
    run's; ``validate``/``test`` of a run: its own ``evals/<verb>-<n>``); a later command in the same
    directory (a resumed fit) writes ``config.<stage>-N.yaml`` beside it instead of replacing the
    original. Also hands the whole config to that command's loggers (W&B shows it as the run's
    config)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.already_saved and trainer.log_dir:
            log_dir, number = Path(trainer.log_dir), 0
            name = "config.yaml"
            stage_name = getattr(stage, "value", stage)  # Lightning passes a TrainerFn enum
            while trainer.is_global_zero and (log_dir / name).exists():
                number += 1
                name = f"config.{stage_name}-{number}.yaml"
            self.config_filename = trainer.strategy.broadcast(name)
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        config = self.parser.dump(self.config, skip_none=False, format="yaml")
        flat: dict[str, Any] = {}
        _flatten("", yaml.safe_load(config), flat)
        flat.pop("config", None)
        for logger in trainer.loggers:
            logger.log_hyperparams(flat)
