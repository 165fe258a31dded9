"""Loading trained tasks back from checkpoints, safely (``weights_only``: no arbitrary unpickling)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from seqlab.data.tokenizers import Tokenizer, tokenizer_from_state
from seqlab.tasks.base import SeqTask


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dictionary, read with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


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
