"""The shared base of every task: optimizer and scheduler injection, clipping, gradient-norm logging,
skipping optimizer steps with a non-finite loss or gradient norm, and pretrained embedding
initialisation."""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from seqlab.data.errors import DataError
from seqlab.data.formats.embeddings import read_embedding_file
from seqlab.engine.errors import SettingError, TrainingDiverged
from seqlab.engine.lightning_internals import replace_saved_hparam, should_update_logs
from seqlab.engine.task_data import TaskData
from seqlab.nn.embeddings import EmbeddingCoverage, PretrainedEmbeddings, init_embedding_from
from seqlab.tasks.net_config import plain


def default_optimizer(params) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)


class SeqTask(L.LightningModule):
    """Base LightningModule: the optimizer comes from config (``class_path``), gradients are clipped by
    norm in ``on_before_optimizer_step`` (after the AMP scaler has unscaled them, so it is right
    under fp16) and the pre-clipping norm is logged as ``train/grad_norm``.

    An optimizer step whose loss or gradient norm is not finite on any process is skipped on every
    process (the gradients are dropped, so neither weights nor optimizer state move), warned about
    and counted in ``train/nonfinite_skipped`` (a running total); after ``max_nonfinite_steps`` such
    steps in a row training stops with :class:`~seqlab.engine.errors.TrainingDiverged`. Under fp16
    with a gradient scaler, an overflowing gradient with a finite loss is the scaler's to skip (it
    lowers its scale) and is not counted.

    Args:
        optimizer: optimizer factory, e.g. ``{class_path: torch.optim.AdamW, init_args: {lr: 0.002}}``.
        lr_scheduler: optional scheduler factory; ``ReduceLROnPlateau`` steps on ``val/loss`` (after
            every validation for language models, every epoch for the other tasks), any other
            scheduler once per optimizer step.
        gradient_clip_norm: clip the global gradient norm to this value (``None``: no clipping).
        max_nonfinite_steps: stop training when this many optimizer steps in a row had a non-finite
            loss or gradient norm (each of them is skipped).
    """

    monitor: str = "val/loss"  # the metric that picks best.ckpt
    monitor_mode: str = "min"

    def __init__(
        self,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip_norm: float | None = 1.0,
        max_nonfinite_steps: int = 20,
    ) -> None:
        super().__init__()
        if isinstance(max_nonfinite_steps, bool) or not isinstance(max_nonfinite_steps, int):
            raise SettingError(f"max_nonfinite_steps must be a whole number (got {max_nonfinite_steps!r})")
        if max_nonfinite_steps < 1:
            raise SettingError(f"max_nonfinite_steps must be at least 1 (got {max_nonfinite_steps})")
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        if gradient_clip_norm is not None and not gradient_clip_norm > 0:  # a negative one flips gradients
            raise SettingError(
                f"model.gradient_clip_norm: expected a number above 0 or null, got {gradient_clip_norm!r}"
            )
        self.gradient_clip_norm = gradient_clip_norm
        self.max_nonfinite_steps = max_nonfinite_steps
        self._grad_norm: torch.Tensor | None = None
        self._loss_nan: torch.Tensor | None = None  # 0, or NaN if a loss since the last step was not finite
        self._nonfinite_total = 0  # skipped steps, over the whole run (kept in checkpoints)
        self._nonfinite_in_a_row = 0
        self._pretrained_done: list[nn.Embedding] = []  # applied once, even if fit runs twice
        self._last_step_time: float | None = None  # None: throughput restarts (new epoch, after eval)
        self._tokens_since_log = 0
        self.data = TaskData()  # handed over by the engine (seqlab.engine.task_data.hand_data)

    def save_settings(self, net: Any = None) -> None:
        """Save the calling constructor's arguments as hyperparameters (checkpoints, ``hparams.yaml``),
        without the optimizer factories and the embedding file spec (not plain types: checkpoints are
        read ``weights_only``; the file is read once, at fit time) and with the ``net`` config as a dict."""
        frame = inspect.currentframe()
        ignore = ["optimizer", "lr_scheduler", "pretrained_embeddings"]
        self.save_hyperparameters(ignore=ignore, frame=frame.f_back if frame else None)
        if net is not None:
            replace_saved_hparam(self, "net", plain(net))

    def from_data(self, name: str) -> Any:
        """``self.data``'s ``name``, which this task cannot run without."""
        value = getattr(self.data, name)
        if value is None:
            raise ValueError(
                f"{type(self).__name__} needs its data's {name}, which it was not given: train it with "
                "seqlab, or call seqlab.engine.task_data.hand_data(task, datamodule) first"
            )
        return value

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the task class, so ``seqlab generate``/``decode`` can rebuild it from the file alone."""
        checkpoint["seqlab"] = {
            "task_class": f"{type(self).__module__}.{type(self).__qualname__}",
            "nonfinite_skipped": self._nonfinite_total,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run goes on counting skipped steps from the checkpoint's total."""
        self._nonfinite_total = int(checkpoint.get("seqlab", {}).get("nonfinite_skipped", 0))

    def configure_optimizers(self):
        optimizer = _built("model.optimizer", self.optimizer_factory, self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = _built("model.lr_scheduler", self.scheduler_factory, optimizer)
        # Under automatic optimization Lightning steps the scheduler: plateau schedulers on val/loss
        # once per epoch, all others after every optimizer step. (Manual optimization, as in the
        # language models, steps them itself: see the two methods below.)
        if isinstance(scheduler, ReduceLROnPlateau):
            config = {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"}
        else:
            config = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": config}

    def on_before_backward(self, loss: torch.Tensor) -> None:
        """Keep ``loss * 0``: 0 for a finite loss, NaN for a non-finite one (a tensor op, no device sync).
        Runs for every backward, under automatic and manual optimization alike."""
        zero = loss.detach().float() * 0
        self._loss_nan = zero if self._loss_nan is None else self._loss_nan + zero

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip, and skip the step on every process when the loss or gradient norm is not finite.

        Runs after the AMP scaler's ``unscale_`` and right before ``optimizer.step`` (also for manual
        optimization), so dropping the gradients here keeps weights and optimizer moments where they
        were. The decision is all-reduced so no process can step while another skips."""
        loss_nan, self._loss_nan = self._loss_nan, None
        params = [p for p in self.parameters() if p.grad is not None]
        if not params and loss_nan is None:
            return  # nothing trained by gradients (the n-gram task steps a no-op optimizer)
        max_norm = self.gradient_clip_norm if self.gradient_clip_norm is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if params else None
        self._grad_norm = norm  # logged as it is, finite or not
        # Not finite exactly when some process's loss or gradient norm is not: one all-reduce, one sync.
        check = norm.detach().float() if norm is not None else torch.zeros((), device=self.device)
        check = check + loss_nan.to(check.device) if loss_nan is not None else check.clone()
        if self._trainer is not None:
            check = self.trainer.strategy.reduce(check, reduce_op="sum")
        if math.isfinite(check.item()):
            self._nonfinite_in_a_row = 0
            return
        bad_loss = self._any_process(loss_nan is not None and not bool(torch.isfinite(loss_nan)))
        if not bad_loss and getattr(self._precision_plugin(), "scaler", None) is not None:
            return  # fp16 overflow: the gradient scaler skips this step and lowers its scale itself
        self._skip_nonfinite_step("loss" if bad_loss else "gradient norm")

    def _any_process(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any process (every process must call this together)."""
        value = torch.tensor(float(flag), device=self.device)
        if self._trainer is not None:
            value = self.trainer.strategy.reduce(value, reduce_op="sum")
        return bool(value > 0)

    def _precision_plugin(self) -> Any:
        return self._trainer.precision_plugin if self._trainer is not None else None

    def _skip_nonfinite_step(self, what: str) -> None:
        """Drop the gradients (optimizers leave parameters without one, and their moments, alone),
        count, warn, and stop after ``max_nonfinite_steps`` in a row."""
        for param in self.parameters():
            param.grad = None
        self._nonfinite_total += 1
        self._nonfinite_in_a_row += 1
        if self._nonfinite_in_a_row >= self.max_nonfinite_steps:
            raise TrainingDiverged(
                f"training diverged: {self._nonfinite_in_a_row} consecutive steps had a non-finite loss "
                f"or gradient norm (last finite checkpoint: {self._last_finite_checkpoint()}); lower the "
                "learning rate (or gradient_clip_norm, or warm the learning rate up) and train again"
            )
        rank_zero_warn(
            f"step {self.global_step}: non-finite {what} on some process; optimizer step skipped "
            f"({self._nonfinite_in_a_row} in a row, {self._nonfinite_total} in all; training stops "
            f"after {self.max_nonfinite_steps} in a row)"
        )

    def _last_finite_checkpoint(self) -> str:
        """The newest checkpoint file of this run (checkpoints are never written with non-finite
        weights, see ``AtomicCheckpointIO``)."""
        callback = self._trainer.checkpoint_callback if self._trainer is not None else None
        for path in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", "")):
            if path and Path(path).is_file():
                return str(path)
        return "none was written"

    def log_train_step(
        self, loss: torch.Tensor, tokens: int, extra: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Log ``train/loss``, ``lr``, ``train/grad_norm`` (before clipping), ``train/tokens_per_sec`` and
        ``train/nonfinite_skipped`` (steps skipped so far, see the class docstring).

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
        if not should_update_logs(self.trainer):
            return
        metrics = {
            "train/loss": loss,
            "lr": self.trainer.optimizers[0].param_groups[0]["lr"],
            **(extra or {}),
        }
        if self._grad_norm is not None:
            metrics["train/grad_norm"] = self._grad_norm
        metrics["train/nonfinite_skipped"] = float(self._nonfinite_total)
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
        """Start ``embedding`` from ``spec``'s file, matched to the data's token strings.

        Call it from ``setup("fit")``, before the optimizer exists. Coverage is logged as
        ``embeddings/coverage`` and printed on rank 0. A resumed run applies it too (so ``freeze``
        holds) and the checkpoint's weights then replace the file's.
        """
        if spec is None or embedding in self._pretrained_done:
            return None
        token_strings = self.from_data("token_strings")
        tokens, vectors = read_embedding_file(spec.path)
        try:
            stats = init_embedding_from(
                embedding,
                token_strings(),
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


def _built(key: str, factory: Any, argument: Any) -> Any:
    """``factory(argument)``, with the ValueError a torch optimizer or scheduler raises for a setting it
    refuses (``Invalid learning rate: -1``) turned into one line naming the config key."""
    try:
        return factory(argument)
    except ValueError as err:
        if isinstance(err, SettingError):
            raise
        raise SettingError(f"{key}: {err}") from None
