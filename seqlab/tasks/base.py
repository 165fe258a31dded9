"""The shared base of every task: optimizer and scheduler injection, clipping, gradient-norm logging,
and pretrained embedding initialisation."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from seqlab.data.embeddings import read_embedding_file
from seqlab.data.text_files import DataError
from seqlab.nn.embeddings import EmbeddingCoverage, PretrainedEmbeddings, init_embedding_from


def default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)


class SeqTask(L.LightningModule):
    """Base LightningModule: the optimizer comes from config (``class_path``), gradients are clipped by
    norm in ``on_before_optimizer_step`` (after the AMP scaler has unscaled them, so it is right
    under fp16) and the pre-clipping norm is logged as ``train/grad_norm``.

    Args:
        optimizer: optimizer factory, e.g. ``{class_path: torch.optim.AdamW, init_args: {lr: 0.002}}``.
        lr_scheduler: optional scheduler factory; ``ReduceLROnPlateau`` steps on ``val/loss`` (after
            every validation for language models, every epoch for the other tasks), any other
            scheduler once per optimizer step.
        gradient_clip_norm: clip the global gradient norm to this value (``None``: no clipping).
    """

    monitor: str = "val/loss"  # the metric that picks best.ckpt
    monitor_mode: str = "min"

    def __init__(
        self,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip_norm: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.gradient_clip_norm = gradient_clip_norm
        self._grad_norm: torch.Tensor | None = None
        self._pretrained_done: list[nn.Embedding] = []  # applied once, even if fit runs twice
        self._last_step_time: float | None = None  # None: throughput restarts (new epoch, after eval)
        self._tokens_since_log = 0

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the task class, so ``seqlab generate``/``decode`` can rebuild it from the file alone."""
        checkpoint["seqlab"] = {"task_class": f"{type(self).__module__}.{type(self).__qualname__}"}

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        # Under automatic optimization Lightning steps the scheduler: plateau schedulers on val/loss
        # once per epoch, all others after every optimizer step. (Manual optimization, as in the
        # language models, steps them itself: see the two methods below.)
        if isinstance(scheduler, ReduceLROnPlateau):
            config = {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"}
        else:
            config = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": config}

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        params = [p for p in self.parameters() if p.grad is not None]
        if not params:
            return
        max_norm = self.gradient_clip_norm if self.gradient_clip_norm is not None else math.inf
        self._grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)

    def log_train_step(
        self, loss: torch.Tensor, tokens: int, extra: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Log ``train/loss``, ``lr``, ``train/grad_norm`` (before clipping) and ``train/tokens_per_sec``.

        Every ``self.log`` call costs a fraction of a millisecond of Python (a few percent of a small
        model's step), while Lightning hands step metrics to the loggers only every
        ``log_every_n_steps`` steps: compute and log them only on those steps (Lightning's own
        LearningRateMonitor and ThroughputMonitor gate the same way).
        """
        now = time.perf_counter()
        if self._last_step_time is None:
            self._last_step_time, self._tokens_since_log = now, 0
        else:
            self._tokens_since_log += tokens * self.trainer.world_size
        if self.trainer.progress_bar_callback is not None:
            self.log("loss", loss, prog_bar=True, logger=False)
        if not self.trainer._logger_connector.should_update_logs:
            return
        metrics = {
            "train/loss": loss,
            "lr": self.trainer.optimizers[0].param_groups[0]["lr"],
            **(extra or {}),
        }
        if self._grad_norm is not None:
            metrics["train/grad_norm"] = self._grad_norm
        if self._tokens_since_log:
            metrics["train/tokens_per_sec"] = self._tokens_since_log / (now - self._last_step_time)
        self._last_step_time, self._tokens_since_log = now, 0
        self.log_dict(metrics, prog_bar=False)

    def on_train_epoch_start(self) -> None:
        self._last_step_time = None

    def on_validation_start(self) -> None:
        self._last_step_time = None  # time spent validating is not training throughput

    def step_scheduler_after_optimizer(self) -> None:
        """Per-step schedulers (manual optimization must step them itself)."""
        scheduler = self.lr_schedulers()
        if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step()

    def step_plateau_scheduler(self, val_loss: torch.Tensor) -> None:
        scheduler = self.lr_schedulers()
        if isinstance(scheduler, ReduceLROnPlateau) and not self.trainer.sanity_checking:
            scheduler.step(float(val_loss))

    def apply_pretrained_embeddings(
        self, embedding: nn.Embedding, spec: PretrainedEmbeddings | None
    ) -> EmbeddingCoverage | None:
        """Start ``embedding`` from ``spec``'s file, matched to the DataModule tokenizer's strings.

        Call it from ``setup("fit")``, before the optimizer exists. Coverage is logged as
        ``embeddings/coverage`` and printed on rank 0. A resumed run applies it too (so ``freeze``
        holds) and the checkpoint's weights then replace the file's.
        """
        if spec is None or embedding in self._pretrained_done:
            return None
        tokenizer = getattr(self.trainer.datamodule, "tokenizer", None)
        if tokenizer is None:
            raise ValueError("pretrained_embeddings needs a DataModule with a tokenizer to match tokens")
        tokens, vectors = read_embedding_file(spec.path)
        try:
            stats = init_embedding_from(
                embedding,
                tokenizer.token_strings(),
                tokens,
                vectors,
                spec.freeze,
                spec.lowercase_fallback,
                source=spec.path,
            )
        except ValueError as err:
            raise DataError(str(err)) from None
        self._pretrained_done.append(embedding)
        own = next((f"{name}.weight" for name, m in self.named_modules() if m is embedding), "")
        shared = [
            name
            for name, p in self.named_parameters(remove_duplicate=False)
            if p is embedding.weight and name != own
        ]
        if spec.freeze and shared:
            rank_zero_warn(
                f"pretrained_embeddings.freeze: {', '.join(shared)} shares the embedding matrix "
                "(tied weights), so it is frozen too"
            )
        for logger in self.loggers:
            logger.log_metrics(
                {"embeddings/coverage": stats.coverage, "embeddings/matched": stats.matched}, step=0
            )
        if self.trainer.is_global_zero:
            examples = ", ".join(repr(t) for t in stats.unmatched[:8])
            print(
                f"pretrained embeddings {spec.path}: {stats.matched} of {stats.total} tokens matched "
                f"({stats.coverage:.1%}, {stats.lowercase} by lowercase)"
                + (f"; {len(stats.unmatched)} keep their random init, e.g. {examples}" if examples else "")
                + ("; table frozen" if spec.freeze else "")
            )
        return stats
