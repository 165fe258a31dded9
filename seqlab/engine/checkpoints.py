"""Checkpoint files: written atomically, read back safely (``weights_only``: no arbitrary unpickling),
and turned back into trained tasks."""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.data.tokenizers import Tokenizer, tokenizer_from_state
from seqlab.tasks.base import SeqTask


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dictionary, read with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint files that are either the old one or the complete new one, whatever happens.

    Lightning's writer renames a temporary file from the system temp directory, which is a plain
    copy onto the target when that directory is on another file system (local /tmp, runs on NFS or
    Lustre): a kill mid-copy leaves a truncated ``last.ckpt``. Here the temporary file sits beside
    the target, is flushed to disk, then renamed over it. Reading is always ``weights_only``.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def load_checkpoint(
        self, path: Any, map_location: Callable | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)


def task_class(checkpoint: dict[str, Any]) -> type[SeqTask]:
    """The task class recorded in a seqlab checkpoint."""
    dotted = checkpoint.get("seqlab", {}).get("task_class")
    if not dotted:
        raise ValueError("not a seqlab checkpoint: it records no task class")
    module, _, name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, SeqTask)):
        raise ValueError(f"checkpoint names {dotted!r}, which is not a seqlab task")
    return cls


def checkpoint_data_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The state the run's DataModule saved into the checkpoint (tokenizers, labels)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get("tokenizer"), dict):
            return value
    raise ValueError("the checkpoint holds no tokenizer state (was it written by a seqlab DataModule?)")


def checkpoint_tokenizer(checkpoint: dict[str, Any]) -> Tokenizer:
    """The tokenizer that the run's DataModule saved into the checkpoint."""
    return tokenizer_from_state(checkpoint_data_state(checkpoint)["tokenizer"])


def load_task(path: str | Path, device: str | torch.device = "cpu") -> tuple[SeqTask, Tokenizer]:
    """The trained task (in eval mode, on ``device``) and its tokenizer."""
    checkpoint = read_checkpoint(path)
    cls = task_class(checkpoint)
    task = cls.load_from_checkpoint(path, map_location=device, weights_only=True)
    task.eval()
    return task, checkpoint_tokenizer(checkpoint)
