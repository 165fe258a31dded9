"""The language-modelling base: truncated BPTT over parallel streams, for any next-token model.

Any ``model`` with ``model(ids [B, T], state) -> (logits [B, T, V], state)`` trains here: the
recurrent LM, a fixed-window neural LM (its state is the last tokens), an n-gram model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn

from seqlab.data.streams import IGNORE_INDEX
from seqlab.nn import PretrainedEmbeddings, State, detach_state
from seqlab.tasks.base import SeqTask, default_optimizer

LN2 = math.log(2)


class LanguageModelTask(SeqTask):
    """Next-token prediction on B parallel streams, one window per batch.

    The model's state is carried from window to window and detached at every boundary (truncated
    BPTT), reset at the start of each epoch, and saved in checkpoints (every rank's own) so a
    mid-epoch resume continues exactly. Validation and test carry state across windows the same
    way. Within a window, ``tbptt_steps`` splits time further into chunks with one optimizer step
    each. Subclasses build ``self.model``.

    Args:
        tbptt_steps: backpropagate through at most this many steps (``None``: the whole window).
        optimizer: see :class:`SeqTask`.
        lr_scheduler: see :class:`SeqTask`.
        gradient_clip_norm: see :class:`SeqTask`.
        max_nonfinite_steps: see :class:`SeqTask`.
    """

    model: torch.nn.Module
    pretrained_embeddings: PretrainedEmbeddings | None = None  # set by subclasses that take one

    def __init__(
        self,
        tbptt_steps: int | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip_norm: float | None = 1.0,
        max_nonfinite_steps: int = 20,
    ) -> None:
        super().__init__(optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps)
        self.automatic_optimization = False
        self.tbptt_steps = tbptt_steps
        self._train_state: State | None = None
        self._eval_state: State | None = None
        self._restored_state: tuple[bool, list[torch.Tensor]] | None = None  # from a checkpoint
        self._eval_totals = torch.zeros(2, dtype=torch.float64)

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.pretrained_embeddings is not None:
            self.apply_pretrained_embeddings(self.model.embedding, self.pretrained_embeddings)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        return self.model(ids, state)

    def chunk_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None
    ) -> tuple[torch.Tensor, State]:
        """Mean next-token cross-entropy (nats) over one chunk, and the state after it."""
        logits, state = self.model(inputs, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        return loss, state

    # ---- carried state in checkpoints ------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save every rank's carried training state, so a mid-epoch resume continues the streams."""
        super().on_save_checkpoint(checkpoint)
        state = self._train_state
        if state is None:
            return
        world = self.trainer.world_size
        parts = state if isinstance(state, tuple) else (state,)
        gathered = [self.all_gather(p) if world > 1 else p.unsqueeze(0) for p in parts]
        checkpoint["seqlab"]["train_state"] = {
            "world_size": world,
            "is_tuple": isinstance(state, tuple),
            "tensors": [g.cpu() for g in gathered],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        # Lightning skips on_train_epoch_start when it resumes mid-epoch, so this state carries on.
        saved = checkpoint.get("seqlab", {}).get("train_state")
        trainer = self._trainer
        if saved is None or trainer is None:
            return
        if saved["world_size"] != trainer.world_size:
            rank_zero_warn(
                f"checkpoint was trained on {saved['world_size']} processes, now {trainer.world_size}: "
                "the data streams are cut differently, so training restarts from a zero hidden state"
            )
            return
        self._restored_state = (saved["is_tuple"], [t[self.global_rank] for t in saved["tensors"]])

    def on_train_start(self) -> None:
        if self._restored_state is not None:
            is_tuple, parts = self._restored_state
            moved = tuple(p.to(self.device) for p in parts)
            self._train_state = moved if is_tuple else moved[0]
            self._restored_state = None

    # ---- training -------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._train_state = None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        optimizer = self.optimizers()
        steps = self.tbptt_steps or inputs.size(1)
        total = inputs.new_zeros((), dtype=torch.float32)
        for x, y in zip(inputs.split(steps, dim=1), targets.split(steps, dim=1), strict=True):
            loss, state = self.chunk_loss(x, y, self._train_state)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            self.step_scheduler_after_optimizer()
            self._train_state = detach_state(state)
            total = total + loss.detach() * y.size(1)
        loss = total / inputs.size(1)
        self.log_train_step(loss, inputs.numel(), {"train/bpc": loss / LN2} if self._char_level() else None)
        return loss

    # ---- evaluation -----------------------------------------------------------------------
    def _eval_start(self) -> None:
        self._eval_state = None
        self._eval_totals = torch.zeros(2, dtype=torch.float64, device=self.device)

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        inputs, targets = batch
        logits, self._eval_state = self.model(inputs, self._eval_state)
        # A DDP rank without an evaluation stream of its own reads a filler whose targets are all
        # IGNORE_INDEX: they add nothing to the sum (cross_entropy skips them) or to the count.
        nll = F.cross_entropy(
            logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        counted = (targets != IGNORE_INDEX).sum()
        self._eval_totals += torch.stack([nll.double(), counted.double()])

    def _eval_end(self, prefix: str, split: str) -> torch.Tensor:
        totals = self.trainer.strategy.reduce(self._eval_totals, reduce_op="sum")
        loss = (totals[0] / totals[1].clamp_min(1)).float()
        metrics = {f"{prefix}/loss": loss, f"{prefix}/ppl": loss.exp()}
        chars_per_token = self._chars_per_token(split)
        if chars_per_token:
            metrics[f"{prefix}/bpc"] = loss / LN2 / chars_per_token
        self.log_dict(metrics, prog_bar=True, sync_dist=False)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self.step_plateau_scheduler(self._eval_end("val", "validation"))

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test", "test")

    # ---- units ----------------------------------------------------------------------------
    def _datamodule(self) -> Any:
        trainer = self._trainer
        return getattr(trainer, "datamodule", None) if trainer is not None else None

    def _char_level(self) -> bool:
        tokenizer = getattr(self._datamodule(), "tokenizer", None)
        return getattr(tokenizer, "kind", None) == "char"

    def _chars_per_token(self, split: str) -> float | None:
        """Characters per token of the split, so subword models also report bits per character."""
        return getattr(self._datamodule(), "chars_per_token", {}).get(split)
