"""A non-finite loss or gradient norm skips the optimizer step (weights and optimizer state stay),
is counted in ``train/nonfinite_skipped``, and after ``max_nonfinite_steps`` in a row stops training
with a clear error; checkpoints never get non-finite weights."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins import MixedPrecision

from seqlab.cli import main
from seqlab.data import ClassificationData, ClassificationFiles, WordTokenizer
from seqlab.engine.checkpoints import AtomicCheckpointIO
from seqlab.engine.errors import TrainingDiverged
from seqlab.engine.run_status import read_status
from seqlab.nn import ClassifierConfig
from seqlab.tasks import ClassificationTask
from tests.reliability.ddp_run import run_ddp_fit

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


def _parameters(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


class NanGradient(L.Callback):
    """After the backward pass of the given steps, one gradient entry becomes NaN (as an overflow in
    one layer would make it)."""

    def __init__(self, steps: set[int]) -> None:
        self.steps = steps

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step in self.steps:
            grad = next(p.grad for p in pl_module.parameters() if p.grad is not None)
            grad.view(-1)[0] = math.nan


class StepWatch(L.Callback):
    """Whether each training step changed the weights."""

    def __init__(self) -> None:
        self.changed: list[bool] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._before = _parameters(pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        after = _parameters(pl_module)
        assert torch.isfinite(after).all()
        self.changed.append(not torch.equal(after, self._before))


def _classifier(
    tiny_tsv: dict[str, Path], cell: str = "lstm", **kwargs: Any
) -> tuple[ClassificationTask, ClassificationData]:
    files = ClassificationFiles(str(tiny_tsv["train"]), str(tiny_tsv["validation"]))
    data = ClassificationData(files, WordTokenizer(), batch_size=4)
    net = ClassifierConfig(cell=cell, hidden_size=4, embedding_size=4)  # type: ignore[arg-type]
    return ClassificationTask(data.vocab_size, data.labels, net, **kwargs), data


def _trainer(steps: int, tmp_path: Path, callbacks: list[L.Callback]) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        logger=CSVLogger(tmp_path / "logs", name="", version=""),
        log_every_n_steps=1,
        limit_val_batches=0,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )


def _metric(path: Path, key: str) -> list[float]:
    with path.open(newline="") as file:
        return [float(row[key]) for row in csv.DictReader(file) if row.get(key)]


def test_classifier_skips_the_step_with_a_nan_gradient(tiny_tsv, tmp_path):
    """Automatic optimization: the step whose gradient holds a NaN leaves the weights and AdamW's
    state as they were; the steps around it train; the running count is logged."""
    task, data = _classifier(tiny_tsv)
    watch = StepWatch()
    trainer = _trainer(4, tmp_path, [NanGradient({1}), watch])
    trainer.fit(task, data)
    assert watch.changed == [True, False, True, True]
    state = trainer.optimizers[0].state
    assert {int(s["step"]) for s in state.values()} == {3}  # the skipped step did not count
    assert _metric(tmp_path / "logs" / "metrics.csv", "train/nonfinite_skipped") == [0.0, 1.0, 1.0, 1.0]
    grad_norms = _metric(tmp_path / "logs" / "metrics.csv", "train/grad_norm")
    assert math.isnan(grad_norms[1]) and all(math.isfinite(g) for i, g in enumerate(grad_norms) if i != 1)


def test_classifier_stops_after_max_nonfinite_steps_in_a_row(tiny_tsv, tmp_path):
    """Two bad steps, a good one, then three bad ones: the count in a row restarts after the good
    step, and the third in a row stops training."""
    task, data = _classifier(tiny_tsv, max_nonfinite_steps=3)
    watch = StepWatch()
    with pytest.raises(TrainingDiverged, match=r"^training diverged: 3 consecutive steps had a non-finite"):
        _trainer(20, tmp_path, [NanGradient({0, 1, 3, 4, 5}), watch]).fit(task, data)
    assert watch.changed == [False, False, True, False, False]


def test_fp16_scaler_overflow_is_left_to_the_scaler(tiny_tsv, tmp_path):
    """fp16 with a GradScaler starting far too high (2**24): the first steps overflow (infinite
    gradients, finite loss), which the scaler skips while halving its scale. That is routine, not
    divergence: nothing is counted and training goes on past max_nonfinite_steps such steps."""
    task, data = _classifier(tiny_tsv, cell="gru", max_nonfinite_steps=2)  # no fp16 LSTM kernel on CPU
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)
    watch = StepWatch()
    trainer = L.Trainer(
        accelerator="cpu",
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        max_steps=12,
        limit_val_batches=0,
        callbacks=[watch],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(task, data)
    overflows = watch.changed.count(False)
    assert not any(watch.changed[:2]) and any(watch.changed), watch.changed  # skipped, then trained
    assert scaler.get_scale() == 2.0**24 / 2**overflows  # halved once per overflow
    assert task._nonfinite_total == 0


def test_max_nonfinite_steps_must_be_positive():
    with pytest.raises(ValueError, match=r"max_nonfinite_steps must be at least 1 \(got 0\)"):
        ClassificationTask(10, ["a", "b"], max_nonfinite_steps=0)


def test_diverging_language_model_fit_stops_with_a_clear_error(tiny_fit_args, capsys):
    """`seqlab fit` of the char LM (manual optimization, TBPTT) with a learning rate of 1e37: after
    the first step the loss is infinite; 20 steps later (the default) the fit exits 2 with one
    `seqlab: error: training diverged` line naming last.ckpt, which holds finite weights; the run's
    status says failed with the same words."""
    args = [*tiny_fit_args, "--trainer.precision=32-true", "--trainer.max_steps=500"]
    args += ["--model.init_args.optimizer.init_args.lr=1e37", "--run.name=diverged"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIG), *args])
    assert exit_info.value.code == 2
    run = Path("runs/diverged/version_0").resolve()
    last = run / "checkpoints" / "last.ckpt"
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("seqlab: error:")]
    assert errors == [
        "seqlab: error: training diverged: 20 consecutive steps had a non-finite loss or gradient norm "
        f"(last finite checkpoint: {last}); lower the learning rate (or gradient_clip_norm, or warm the "
        "learning rate up) and train again"
    ]
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert all(torch.isfinite(w).all() for w in checkpoint["state_dict"].values() if w.is_floating_point())
    assert checkpoint["global_step"] <= 20
    status = read_status(run)
    assert status["state"] == "failed" and status["error"] == errors[0].removeprefix("seqlab: error: ")
    assert _metric(run / "metrics.csv", "train/nonfinite_skipped") == [float(n) for n in range(20)]


@pytest.mark.slow
def test_diverging_ddp_fit_stops_on_both_ranks(tiny_fit_args):
    """Two DDP processes skip together and stop together: the fit exits 2 with the divergence error
    instead of one rank waiting forever in a collective; last.ckpt stays finite."""
    args = ["--config", str(CONFIG), *tiny_fit_args, "--trainer.precision=32-true", "--trainer.max_steps=500"]
    args += [
        "--model.init_args.optimizer.init_args.lr=1e37",
        "--model.max_nonfinite_steps=3",
        "--run.name=ddp",
    ]
    result = run_ddp_fit(args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "seqlab: error: training diverged: 3 consecutive steps" in result.stderr
    assert "Traceback" not in result.stderr
    last = torch.load("runs/ddp/version_0/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(w).all() for w in last["state_dict"].values() if w.is_floating_point())
    assert read_status(Path("runs/ddp/version_0"))["state"] == "failed"


def test_checkpoint_with_nonfinite_weights_is_not_written(tmp_path):
    """The save path refuses NaN/inf weights with a warning and keeps the previous file."""
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "state_dict": {"w": torch.ones(3), "n": torch.tensor([2])}}, path)
    bad = {"global_step": 2, "state_dict": {"w": torch.tensor([1.0, math.inf]), "n": torch.tensor([2])}}
    with pytest.warns(UserWarning, match=r"last.ckpt: not written: weight 'w' holds NaN or infinity"):
        io.save_checkpoint(bad, path)
    assert io.load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
