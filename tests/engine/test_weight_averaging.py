"""Exponential weight averaging (``--trainer.callbacks+=seqlab.engine.averaging.ExponentialAveraging``):
validation and ``best.ckpt`` use the average, a stopped fit resumes to exactly the weights and average
of one never stopped, the average copies only the task's weights (not its data or trainer, so DDP
works), resuming such a checkpoint without the callback is refused, and out-of-range settings are one
line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.engine.averaging import ExponentialAveraging
from seqlab.engine.errors import SettingError
from seqlab.engine.training_cli import run_training
from tests.engine.test_ddp import ddp_fit_args, run_cli

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "classification" / "tsv_word_bigru_attention.yaml"
EMA = "--trainer.callbacks+=seqlab.engine.averaging.ExponentialAveraging"


@pytest.fixture
def args(tiny_tsv, tiny_trainer_args) -> list[str]:
    """The tiny classifier, 10 batches an epoch (the tests give a low decay, so the average moves fast)."""
    return [
        "--config",
        str(CONFIG),
        *tiny_trainer_args,
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
        "--data.batch_size=4",
        "--model.net.embedding_size=8",
        "--model.net.hidden_size=8",
        "--trainer.precision=32-true",
    ]


def _checkpoint(run: Path, name: str) -> dict:
    return torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=False)


def _val_losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as file:
        rows = csv.DictReader(file)
        return {int(r["step"]): float(r["val/loss"]) for r in rows if r.get("val/loss")}


def test_validation_and_best_checkpoint_use_the_average(args):
    """The weights in ``best.ckpt`` differ from the ones being trained, and validating that file
    gives the loss the fit recorded for it: the fit validated the average, not the raw weights."""
    main(["fit", *args, EMA, "--trainer.callbacks.decay=0.5", "--run.name=ema"])
    run = Path("runs/ema/version_0")
    best = _checkpoint(run, "best.ckpt")
    assert best["averaging_state"]["n_averaged"].item() > 1
    differing = [
        k for k, v in best["state_dict"].items() if not torch.equal(v, best["current_model_state"][k])
    ]
    assert differing, "the average equals the trained weights: nothing was averaged"
    recorded = _val_losses(run)[best["global_step"] - 1]
    cli = run_training(["validate", *args, f"--ckpt_path={run / 'checkpoints/best.ckpt'}"])
    assert float(cli.trainer.callback_metrics["val/loss"]) == pytest.approx(recorded, abs=1e-6)


def test_a_stopped_fit_resumes_to_the_weights_and_average_of_one_never_stopped(args):
    """Stopped after 6 steps (the cadence checkpoint is mid-epoch), resumed to 14, against 14 straight:
    both the averaged and the trained weights match bit for bit."""
    common = ["fit", *args, EMA, "--trainer.callbacks.decay=0.7", "--run.checkpoint_every_n_steps=3"]
    main([*common, "--run.name=stopped", "--trainer.max_steps=6"])
    main([*common, "--run.name=stopped", "--ckpt_path=last", "--trainer.max_steps=14"])
    main([*common, "--run.name=straight", "--trainer.max_steps=14"])
    resumed = _checkpoint(Path("runs/stopped/version_0"), "last.ckpt")
    straight = _checkpoint(Path("runs/straight/version_0"), "last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 14
    for part in ("state_dict", "current_model_state"):
        for key, value in straight[part].items():
            torch.testing.assert_close(resumed[part][key], value, rtol=0, atol=0, msg=f"{part} {key}")
    assert resumed["averaging_state"]["n_averaged"] == straight["averaging_state"]["n_averaged"] == 14


def test_start_step_delays_the_average(args):
    """With ``start_step`` 4 the average starts at the fifth optimizer step: 6 steps average 2 times."""
    main(["fit", *args, EMA, "--trainer.callbacks.start_step=4", "--run.name=late"])
    assert _checkpoint(Path("runs/late/version_0"), "last.ckpt")["averaging_state"]["n_averaged"] == 2


def test_the_average_does_not_copy_the_data(args):
    """The average is a deep copy of the task; the task's handle on its data (bound methods of the
    DataModule, encoded splits behind them) is left out of it and given back to the task."""
    seen: dict[str, object] = {}

    class Watch(ExponentialAveraging):
        def setup(self, trainer, pl_module, stage):
            super().setup(trainer, pl_module, stage)
            seen["task"], seen["copy"] = pl_module.data, self._average_model.module.data

    run_training(["fit", *args, "--run.name=watch"], callbacks=[Watch()])
    assert seen["task"] is not None and seen["copy"] is None


def test_resuming_an_averaged_checkpoint_without_the_callback_is_refused(args, capsys):
    """Lightning would load the average as the weights to train on and drop the trained ones."""
    main(["fit", *args, EMA, "--run.name=ema"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *args, "--run.name=ema", "--ckpt_path=last", "--trainer.max_steps=8"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert "was trained with weight averaging" in err and "resume it with the same --trainer.callbacks" in err
    assert _checkpoint(Path("runs/ema/version_0"), "last.ckpt")["global_step"] == 6  # nothing trained on


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"decay": 1.0}, "decay must be above 0 and below 1, got 1.0"),
        ({"decay": 0}, "decay must be above 0 and below 1, got 0"),
        ({"decay": True}, "decay must be above 0 and below 1, got True"),
        ({"start_step": -1}, "start_step must be a whole number >= 0, got -1"),
    ],
)
def test_out_of_range_settings_are_refused(setting, expected):
    with pytest.raises(SettingError, match=expected):
        ExponentialAveraging(**setting)


def test_an_out_of_range_decay_on_the_command_line_is_one_line(args, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *args, EMA, "--trainer.callbacks.decay=1.5", "--run.name=bad"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("seqlab: error:")]
    assert stopped.value.code == 2
    assert lines == ["seqlab: error: ExponentialAveraging decay must be above 0 and below 1, got 1.5"]


@pytest.mark.slow
def test_a_two_process_ddp_fit_averages(tiny_fit_args, tmp_path):
    """Under DDP the task holds its strategy (with a lock that cannot be copied) and optimizer
    factories: copying it whole for the average failed with "cannot pickle '_thread.lock' object"
    before any step. Now both ranks train and the checkpoint holds an average of every step."""
    args = [
        *ddp_fit_args(tiny_fit_args, 10),
        EMA,
        "--trainer.callbacks.decay=0.5",
        "--run.wandb.mode=disabled",
    ]
    result = run_cli(args, cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    last = torch.load(tmp_path / "runs/char_lstm/version_0/checkpoints/last.ckpt", weights_only=False)
    assert last["global_step"] == 10 and last["averaging_state"]["n_averaged"] == 10
    trained = last["current_model_state"]
    assert any(not torch.equal(v, trained[k]) for k, v in last["state_dict"].items())
