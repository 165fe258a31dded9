"""The base of supervised tasks, whose examples each have an input and a target (classification,
labelling, transduction, speech recognition; unlike the streamed language model): one evaluation path
for validation and test, and training-step logging after the optimizer step."""

from __future__ import annotations

from typing import Any

import torch

from seqlab.data.modules.batching import is_filler
from seqlab.tasks.base import SeqTask


class SupervisedTask(SeqTask):
    """Subclasses compute a batch's loss in ``training_step`` and implement ``eval_step`` (accumulate
    metrics of one batch under ``prefix``, ``val`` or ``test``) and ``eval_end`` (log them, reset,
    return the loss)."""

    def eval_step(self, batch: dict[str, Any], prefix: str) -> None:
        raise NotImplementedError

    def eval_end(self, prefix: str) -> torch.Tensor:
        raise NotImplementedError

    def batch_tokens(self, batch: dict[str, Any]) -> int:
        """Tokens in a training batch (for ``train/tokens_per_sec``)."""
        return int(batch["lengths"].sum())

    def on_train_batch_end(self, outputs: Any, batch: dict[str, Any], batch_idx: int) -> None:
        # After the optimizer step, so the gradient norm logged is this step's.
        self.log_train_step(outputs["loss"].detach(), self.batch_tokens(batch))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not is_filler(batch):  # a DDP rank short of batches runs fillers that must not count
            self.eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self.eval_end("val")  # Lightning steps the LR schedulers (automatic optimization)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not is_filler(batch):
            self.eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self.eval_end("test")
