"""When ``last.ckpt`` is written: after every validation even when the metric stops improving, every
``run.checkpoint_every_n_steps`` steps in between, and never as a leftover partial file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from seqlab.cli import main
from seqlab.engine.training_cli import SeqlabCLI, run_training
from tests.reliability.ddp_run import run_ddp_fit

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
FP32 = "--trainer.precision=32-true"  # tiny models: no bf16 kernels needed


class LastCheckpointProbe(L.Callback):
    """At the start of every training batch (after the previous batch's checkpoint writes and any
    validation), reads the step that ``last.ckpt`` holds."""

    def __init__(self) -> None:
        self.held: dict[int, int | None] = {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        path = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
        step = torch.load(path, weights_only=True)["global_step"] if path.exists() else None
        self.held[trainer.global_step] = step


def fit(args: list[str], *callbacks: L.Callback) -> SeqlabCLI:
    """``seqlab fit --config char_lstm.yaml ARGS`` in this process, with extra callbacks."""
    return run_training(["fit", "--config", str(CONFIG), *args], callbacks)


def _step_of(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


def _val_losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as file:
        return {int(r["step"]) + 1: float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")}


def test_last_checkpoint_follows_every_validation_on_a_plateau(tiny_fit_args):
    """Learning rate 0: val/loss is the same at every validation, so best.ckpt stays at the first one;
    last.ckpt still moves to each validation's step (Lightning alone leaves it at the first)."""
    probe = LastCheckpointProbe()
    args = [*tiny_fit_args, FP32, "--model.init_args.optimizer.init_args.lr=0", "--trainer.max_steps=9"]
    cli = fit([*args, "--trainer.val_check_interval=2", "--trainer.limit_val_batches=1"], probe)
    checkpoints = cli.run_dir / "checkpoints"
    assert _step_of(checkpoints / "best.ckpt") == 2  # a plateau: never improved after the first
    assert len(set(_val_losses(cli.run_dir).values())) == 1
    assert {s: probe.held[s] for s in range(2, 9)} == {s: s - s % 2 for s in range(2, 9)}
    assert _step_of(checkpoints / "last.ckpt") == 9


def test_checkpoint_every_n_steps_between_validations(tiny_fit_args):
    """--run.checkpoint_every_n_steps 3 with no validation before the end: last.ckpt holds steps 3,
    then 6, read from the file itself, and is atomically replaced (no partial file left)."""
    probe = LastCheckpointProbe()
    args = [*tiny_fit_args, FP32, "--trainer.max_steps=8", "--trainer.val_check_interval=100"]
    cli = fit([*args, "--run.checkpoint_every_n_steps=3"], probe)
    assert probe.held == {0: None, 1: None, 2: None, 3: 3, 4: 3, 5: 3, 6: 6, 7: 6}
    checkpoints = cli.run_dir / "checkpoints"
    assert _step_of(checkpoints / "last.ckpt") == 8
    assert not list(checkpoints.glob("*.partial")) and not list(checkpoints.glob(".*.partial"))


def test_cadence_on_a_validation_step_leaves_best_checkpoint_to_validation(tiny_fit_args):
    """The cadence and validation fall on the same steps: best.ckpt is still the step with the
    lowest val/loss (a cadence write before the validation would make Lightning skip it)."""
    probe = LastCheckpointProbe()
    args = [*tiny_fit_args, FP32, "--trainer.max_steps=7", "--trainer.val_check_interval=2"]
    cli = fit([*args, "--trainer.limit_val_batches=1", "--run.checkpoint_every_n_steps=2"], probe)
    losses = _val_losses(cli.run_dir)
    assert sorted(losses) == [2, 4, 6, 7]  # 7: the fit's last step is validated too (FinalValidation)
    assert _step_of(cli.run_dir / "checkpoints" / "best.ckpt") == min(losses, key=losses.get)
    assert {s: probe.held[s] for s in range(2, 7)} == {2: 2, 3: 2, 4: 4, 5: 4, 6: 6}


def test_checkpoint_every_minutes_writes_between_validations(tiny_fit_args):
    """A cadence of 0.000001 minutes (60 microseconds) is due after every step: last.ckpt follows training."""
    probe = LastCheckpointProbe()
    args = [*tiny_fit_args, FP32, "--trainer.max_steps=5", "--trainer.val_check_interval=100"]
    fit([*args, "--run.checkpoint_every_minutes=0.000001"], probe)
    assert probe.held == {0: None, 1: 1, 2: 2, 3: 3, 4: 4}


def test_stale_partial_files_are_removed_when_a_fit_starts(tiny_fit_args):
    """Temporary files a killed checkpoint writer left are removed by the next fit in that run
    directory; other files stay."""
    run = Path("runs/killed")
    checkpoints = run / "checkpoints"
    checkpoints.mkdir(parents=True)
    stale = [checkpoints / ".last.ckpt.k3j2h1.partial", checkpoints / ".best.ckpt.a9b8c7.partial"]
    for path in stale:
        path.write_bytes(b"\x80" * 100)
    keep = checkpoints / "notes.txt"
    keep.write_text("mine")
    main(["fit", "--config", str(CONFIG), *tiny_fit_args, FP32, "--trainer.max_steps=2", f"--run.dir={run}"])
    assert not any(path.exists() for path in stale)
    assert keep.read_text() == "mine"
    assert _step_of(checkpoints / "last.ckpt") == 2


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            "--run.checkpoint_every_n_steps=0",
            "run.checkpoint_every_n_steps must be a whole number >= 1 (got 0)",
        ),
        ("--run.checkpoint_every_minutes=-5", "run.checkpoint_every_minutes must be a number > 0 (got -5.0)"),
    ],
)
def test_bad_cadence_is_a_clear_error(tiny_fit_args, capsys, option, expected):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIG), *tiny_fit_args, option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"seqlab: error: {expected}" in err.splitlines()
    assert "Traceback" not in err


@pytest.mark.slow
def test_cadence_writes_on_both_ddp_ranks_together(tiny_fit_args):
    """Two DDP processes with a time cadence due after every step (rank 0's clock decides) and a step
    cadence: every write gathers both ranks' carried LM state, and the run ends normally."""
    args = [*tiny_fit_args, FP32, "--trainer.max_steps=7", "--trainer.val_check_interval=4"]
    args += ["--run.checkpoint_every_minutes=0.000001", "--run.checkpoint_every_n_steps=2", "--run.name=ddp"]
    result = run_ddp_fit(["--config", str(CONFIG), *args])
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = Path("runs/ddp/version_0/checkpoints")
    last = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 7
    assert last["seqlab"]["train_state"]["world_size"] == 2
    assert not list(checkpoints.glob(".*.partial"))
