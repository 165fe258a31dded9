"""The language-modelling base: truncated BPTT over parallel streams, for any next-token model.

Any ``model`` with ``model(ids [B, T], state) -> (logits [B, T, V], state)`` trains here: the
recurrent LM, a fixed-window neural LM (its state is the last tokens), an n-gram model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn

from seqlab.data.modules.streams import IGNORE_INDEX
from seqlab.engine.errors import SettingError
from seqlab.engine.media import log_table
from seqlab.nn import PretrainedEmbeddings, State, detach_state, generate
from seqlab.tasks.base import SeqTask

LN2 = math.log(2)
PROMPT_TOKENS = 16  # each validation sample continues this many tokens of a validation stream
SAMPLE_SEED = 0  # the same draws at every validation, so samples differ only as the model does


def check_tbptt(tbptt_steps: int | None, tbptt_backprop_steps: int | None) -> None:
    """K1 (``tbptt_steps``) and K2 (``tbptt_backprop_steps``) are positive, and K2 >= K1 needs a K1."""
    for name, value in (("tbptt_steps", tbptt_steps), ("tbptt_backprop_steps", tbptt_backprop_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SettingError(f"{name} must be a positive whole number or null (got {value!r})")
    if tbptt_backprop_steps is None:
        return
    if tbptt_steps is None:
        raise SettingError(
            f"tbptt_backprop_steps={tbptt_backprop_steps} needs tbptt_steps, the steps between updates "
            "(K1 <= K2); set tbptt_steps to data.seq_len for one update per window"
        )
    if tbptt_backprop_steps < tbptt_steps:
        raise SettingError(
            f"tbptt_backprop_steps ({tbptt_backprop_steps}) must be at least tbptt_steps "
            f"({tbptt_steps}): each update backpropagates through its own chunk and K2 - K1 steps before it"
        )


def check_samples(samples: int, sample_length: int) -> None:
    """Validation samples' settings are whole numbers >= 0."""
    for name, value in (("samples", samples), ("sample_length", sample_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingError(f"{name} must be a whole number >= 0 (0: no samples; got {value!r})")


class LanguageModelTask(SeqTask):
    """Next-token prediction on B parallel streams, one window per batch.

    The model's state is carried from window to window and detached at every boundary (truncated
    BPTT), reset at the start of each epoch, and saved in checkpoints (every rank's own) so a
    mid-epoch resume continues exactly. Validation and test carry state across windows the same
    way. Within a window, ``tbptt_steps`` (K1) splits time further into chunks with one optimizer
    step each. ``tbptt_backprop_steps`` (K2 >= K1) makes it Williams and Peng's BPTT(K2; K1): each
    update's loss is still the chunk's K1 targets, but its gradient reaches K2 steps back, through
    the K2 - K1 steps before the chunk, recomputed from the detached state at their start (kept with
    their ids across windows, reset with the state, saved in checkpoints). Subclasses build
    ``self.model``.

    After every validation (not the sanity check) rank 0 samples ``samples`` texts at temperature 1,
    each continuing the first tokens of a validation stream, with a fixed seed, and writes them as the
    table ``val/samples`` (``media/val_samples-step<N>.csv`` and W&B).

    Args:
        tbptt_steps: backpropagate through at most this many steps (``None``: the whole window).
        tbptt_backprop_steps: backpropagate each update this far back, past its chunk (``None``: tbptt_steps).
        samples: texts sampled after each validation (0: none).
        sample_length: tokens sampled per text (0: none).
        training: optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    model: torch.nn.Module
    pretrained_embeddings: PretrainedEmbeddings | None = None  # set by subclasses that take one

    def __init__(
        self,
        tbptt_steps: int | None = None,
        tbptt_backprop_steps: int | None = None,
        samples: int = 3,
        sample_length: int = 200,
        **training: Any,
    ) -> None:
        super().__init__(**training)
        check_tbptt(tbptt_steps, tbptt_backprop_steps)
        check_samples(samples, sample_length)
        self.samples, self.sample_length = samples, sample_length
        self._sample_prompts: torch.Tensor | None = None  # [B, <= PROMPT_TOKENS] ids of validation streams
        self.automatic_optimization = False
        self.tbptt_steps = tbptt_steps
        self.tbptt_backprop_steps = tbptt_backprop_steps
        # K2 - K1: ids kept before each chunk, so its gradient reaches back K2 steps (0: plain TBPTT)
        self._overlap_steps = 0 if tbptt_backprop_steps is None else tbptt_backprop_steps - tbptt_steps
        # With an overlap, _train_state is the detached state where _train_overlap's ids start.
        self._train_state: State | None = None
        self._train_overlap: torch.Tensor | None = None  # [B, <= K2 - K1] ids, or None
        self._eval_state: State | None = None
        self._restored_state: tuple[bool, list[torch.Tensor]] | None = None  # from a checkpoint
        self._restored_overlap: torch.Tensor | None = None
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
        """Save every rank's carried training state (and K2 - K1 overlap ids), so a mid-epoch resume
        continues the streams."""
        super().on_save_checkpoint(checkpoint)
        state, overlap = self._train_state, self._train_overlap
        world = self.trainer.world_size
        if state is not None:
            parts = state if isinstance(state, tuple) else (state,)
            checkpoint["seqlab"]["train_state"] = {
                "world_size": world,
                "is_tuple": isinstance(state, tuple),
                "tensors": [self._gather_ranks(p) for p in parts],
            }
        if overlap is not None:  # also at the start of an epoch, where the state is still None
            checkpoint["seqlab"]["train_overlap"] = {"world_size": world, "ids": self._gather_ranks(overlap)}

    def _gather_ranks(self, tensor: torch.Tensor) -> torch.Tensor:
        """[world, ...] on the CPU: every rank's own ``tensor``."""
        return (self.all_gather(tensor) if self.trainer.world_size > 1 else tensor.unsqueeze(0)).cpu()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        # Lightning skips on_train_epoch_start when it resumes mid-epoch, so this state carries on.
        saved = checkpoint.get("seqlab", {})
        state, overlap = saved.get("train_state"), saved.get("train_overlap")
        trainer = self._trainer
        if (state is None and overlap is None) or trainer is None:
            return
        world = (state or overlap)["world_size"]
        if world != trainer.world_size:
            rank_zero_warn(
                f"checkpoint was trained on {world} processes, now {trainer.world_size}: "
                "the data streams are cut differently, so training restarts from a zero hidden state"
            )
            return
        if state is not None:
            self._restored_state = (state["is_tuple"], [t[self.global_rank] for t in state["tensors"]])
        if overlap is not None:
            self._restored_overlap = overlap["ids"][self.global_rank]

    def on_train_start(self) -> None:
        if self._restored_state is not None:
            is_tuple, parts = self._restored_state
            moved = tuple(p.to(self.device) for p in parts)
            self._train_state = moved if is_tuple else moved[0]
            self._restored_state = None
        if self._restored_overlap is not None:
            self._train_overlap = self._restored_overlap.to(self.device)
            self._restored_overlap = None

    # ---- training -------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._train_state = None
        self._train_overlap = None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        optimizer = self.optimizers()
        steps = self.tbptt_steps or inputs.size(1)
        self._trim_overlap()
        total = inputs.new_zeros((), dtype=torch.float32)
        for x, y in zip(inputs.split(steps, dim=1), targets.split(steps, dim=1), strict=True):
            if self._overlap_steps:
                loss, state, overlap = self.overlap_chunk_loss(x, y, self._train_state, self._train_overlap)
            else:
                (loss, state), overlap = self.chunk_loss(x, y, self._train_state), None
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
            self.step_scheduler_after_optimizer()
            self._train_state, self._train_overlap = detach_state(state), overlap
            total = total + loss.detach() * y.size(1)
        loss = total / inputs.size(1)  # the window's own targets only, whatever K2 reached back to
        self.log_train_step(loss, inputs.numel(), {"train/bpc": loss / LN2} if self.data.char_level else None)
        return loss

    def overlap_chunk_loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: State | None, overlap: torch.Tensor | None
    ) -> tuple[torch.Tensor, State | None, torch.Tensor]:
        """BPTT(K2; K1) for one chunk: the mean cross-entropy over the chunk's own targets, computed by
        running the model from ``state`` over the ``overlap`` ids (the up to K2 - K1 steps before the
        chunk) and then the chunk, so the gradient reaches back through both. Returns the loss, the
        state at the start of the next overlap (not detached) and the next overlap's ids."""
        ids = inputs if overlap is None else torch.cat([overlap, inputs], dim=1)
        cut = ids.size(1) - min(self._overlap_steps, ids.size(1))  # where the next overlap starts
        if cut:
            head, next_state = self.model(ids[:, :cut], state)
            tail, _ = self.model(ids[:, cut:], next_state)
            logits = torch.cat([head, tail], dim=1)
        else:  # the whole stream so far stays in the overlap (early in an epoch)
            logits, _ = self.model(ids, state)
            next_state = state
        logits = logits[:, -targets.size(1) :]
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        return loss, next_state, ids[:, cut:].clone()  # its own storage: checkpoints save no more

    def _trim_overlap(self) -> None:
        """Drop overlap ids beyond K2 - K1 (a checkpoint of a run with a longer overlap), advancing the
        carried state over them, so it is again the state where the overlap starts."""
        overlap = self._train_overlap
        if overlap is None or overlap.size(1) <= self._overlap_steps:
            return
        excess = overlap.size(1) - self._overlap_steps
        with torch.no_grad():
            _, state = self.model(overlap[:, :excess], self._train_state)
        self._train_state = detach_state(state)
        self._train_overlap = overlap[:, excess:] if self._overlap_steps else None

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
        if batch_idx == 0:
            self._sample_prompts = batch[0][:, :PROMPT_TOKENS]
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self.step_plateau_scheduler(self._eval_end("val", "validation"))
        self._log_samples()

    def _log_samples(self) -> None:
        """Sample continuations of the first validation batch's stream starts (see the class docstring)."""
        prompts, self._sample_prompts = self._sample_prompts, None
        trainer = self.trainer
        wanted = self.samples and self.sample_length and prompts is not None
        if not wanted or trainer.sanity_checking or not trainer.is_global_zero:
            return
        detokenize = self.data.detokenize
        if detokenize is None:  # data from outside seqlab: train on, without samples
            rank_zero_warn("no validation samples: the data cannot turn ids into text (model.samples)")
            return
        rows = prompts[torch.arange(self.samples, device=prompts.device) % prompts.size(0)]
        generator = torch.Generator(device=self.device).manual_seed(SAMPLE_SEED)
        # In the validation step's precision (bf16 autocast under bf16-mixed), as the model is validated:
        # Lightning applies it to the steps only, not to this epoch-end hook.
        with trainer.precision_plugin.val_step_context():
            out = generate(self.model, rows, self.sample_length, generator=generator)
        table = [[detokenize(p.tolist()), detokenize(s.tolist())] for p, s in zip(rows, out, strict=True)]
        log_table(trainer, "val/samples", ["prompt", "sample"], table)

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test", "test")

    # ---- units ----------------------------------------------------------------------------
    def _chars_per_token(self, split: str) -> float | None:
        """Characters per token of the split, so subword models also report bits per character."""
        return self.data.chars_per_token.get(split)
