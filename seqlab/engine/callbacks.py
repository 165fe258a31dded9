"""Callbacks the engine always adds: checkpoints, and saving the resolved config without clobbering."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback


class _Checkpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` always holds the final state: Lightning saves it only after
    a validation, so steps trained after the last validation would be missing from it."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.save_last_now(trainer)

    def save_last_now(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` for the current step unless it already holds it (between batches only:
        at the end of training, or when a stop signal ended it)."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def checkpoint_callback(run_dir: Path, monitor: str, mode: str) -> ModelCheckpoint:
    """``best.ckpt`` by the task's validation metric and ``last.ckpt`` for resuming."""
    return _Checkpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
    )


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
    """Saves the resolved config as ``config.yaml`` in the run directory; a later command in the same
    directory (a resumed fit, a validate) writes ``config.<stage>-N.yaml`` beside it instead of
    replacing the original. Also hands the whole
    config to every logger (W&B shows it as the run's config)."""

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
