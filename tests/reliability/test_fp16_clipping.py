"""fp16 with a gradient scaler, on CPU: gradients are clipped after the scaler unscales them.

``torch.amp.GradScaler("cpu")`` exists and Lightning's ``MixedPrecision("16-mixed", "cpu", scaler)``
plugin takes it (``precision="16-mixed"`` alone becomes bf16 on CPU, without a scaler). fp16 autocast
of an LSTM has no CPU kernel, so the models here are GRUs. The loss is scaled by 2**12 before
backward: clipping scaled gradients (Lightning issue #18089) would report a gradient norm 4096 times
too large and move the weights by a 4096th of the clipped step; the control task below does exactly
that, to show the checks see the difference.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision

from seqlab.data import ClassificationData, ClassificationFiles, LanguageModelData, TextFiles, WordTokenizer
from seqlab.nn import ClassifierConfig, RecurrentLMConfig
from seqlab.tasks import ClassificationTask, GenerationTask
from seqlab.tasks.base import SeqTask

SCALE, LR = 2.0**12, 0.1


def sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=LR)


class ClipsScaledGradients:
    """The mistake the checks must catch: clipping right after backward, before ``unscale_``."""

    def on_after_backward(self: Any) -> None:
        params = [p for p in self.parameters() if p.grad is not None]
        self._grad_norm = torch.nn.utils.clip_grad_norm_(params, self.gradient_clip_norm)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        pass


class ClassifierClippingEarly(ClipsScaledGradients, ClassificationTask):
    pass


class GeneratorClippingEarly(ClipsScaledGradients, GenerationTask):
    pass


def _classification(tiny_tsv: dict[str, Path], early: bool) -> tuple[SeqTask, L.LightningDataModule, Any]:
    data = ClassificationData(
        ClassificationFiles(str(tiny_tsv["train"]), str(tiny_tsv["validation"])),
        WordTokenizer(),
        batch_size=8,
    )
    cls = ClassifierClippingEarly if early else ClassificationTask
    task = cls(
        data.vocab_size,
        data.labels,
        ClassifierConfig(cell="gru", embedding_size=8, hidden_size=8, dropout=0.0),
    )
    batch = next(iter(data.train_dataloader()))  # what the fit's first step trains on (epoch 0)
    return task, data, lambda module: module.training_step(batch, 0)


def _language_model(tiny_corpus: dict[str, Path], early: bool) -> tuple[SeqTask, L.LightningDataModule, Any]:
    files = {split: str(path) for split, path in tiny_corpus.items()}
    data = LanguageModelData(TextFiles(**files), batch_size=4, seq_len=16)
    data.setup("fit")
    cls = GeneratorClippingEarly if early else GenerationTask
    task = cls(data.vocab_size, RecurrentLMConfig(cell="gru", embedding_size=8, hidden_size=16, num_layers=1))
    inputs, targets = data.windows["train"][0]  # the first window; one optimizer step (no tbptt_steps)
    return task, data, lambda module: module.chunk_loss(inputs, targets, None)[0]


def _fp16_step(task: SeqTask, data: L.LightningDataModule, loss_of: Any) -> dict[str, Any]:
    """One optimizer step under fp16 autocast with a CPU GradScaler, with clipping active (max norm
    half the unscaled gradient norm); the reference gradient comes from the same fp16 forward pass
    without any scaler."""
    reference = copy.deepcopy(task)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = loss_of(reference)
    loss.float().backward()
    names = [n for n, p in reference.named_parameters() if p.grad is not None]
    grad = torch.cat([reference.get_parameter(n).grad.flatten() for n in names])
    norm = float(grad.norm())
    task.gradient_clip_norm = norm / 2
    task.optimizer_factory = sgd
    before = torch.cat([task.get_parameter(n).detach().flatten() for n in names]).clone()
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE)
    trainer = L.Trainer(
        accelerator="cpu",
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(task, datamodule=data)
    after = torch.cat([task.get_parameter(n).detach().flatten() for n in names])
    assert trainer.precision_plugin.scaler is scaler and scaler.get_scale() == SCALE  # used, no overflow
    return {
        "reported_norm": float(task._grad_norm),
        "norm": norm,
        "update": after - before,
        "clipped_update": -LR * grad * (task.gradient_clip_norm / (norm + 1e-6)),
    }


def _unscaled_and_clipped(step: dict[str, Any]) -> bool:
    return step["reported_norm"] == pytest.approx(step["norm"], rel=0.02) and torch.allclose(
        step["update"],
        step["clipped_update"],
        rtol=0.05,
        atol=1e-3 * float(step["clipped_update"].abs().max()),
    )


@pytest.mark.parametrize("kind", ["classification", "language_model"])
def test_fp16_scaler_clips_unscaled_gradients(kind: str, request: pytest.FixtureRequest) -> None:
    """Automatic (classification) and manual (truncated-BPTT language model) optimization: the logged
    pre-clipping norm is the unscaled gradient's and the step is the clipped unscaled gradient's."""
    build = _classification if kind == "classification" else _language_model
    files = request.getfixturevalue("tiny_tsv" if kind == "classification" else "tiny_corpus")
    step = _fp16_step(*build(files, early=False))
    assert _unscaled_and_clipped(step), step

    control = _fp16_step(*build(files, early=True))  # clips the scaled gradients: caught
    assert control["reported_norm"] == pytest.approx(SCALE * control["norm"], rel=0.02)
    assert not _unscaled_and_clipped(control)
