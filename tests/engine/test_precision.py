"""End-to-end: `--trainer.precision=bf16-mixed` really runs the LSTM in bfloat16 on CPU (in float32 on
a CPU whose oneDNN has no bf16 LSTM kernel, such as an AVX2-only AMD EPYC)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from seqlab.cli import main
from seqlab.nn.recurrent import cpu_bf16_lstm_works

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


def fit_recording_lstm_dtypes(args: list[str]) -> list[tuple[bool, torch.dtype]]:
    """Fit, and record (training?, output dtype) of every nn.LSTM forward call during the fit."""
    seen: list[tuple[bool, torch.dtype]] = []

    def hook(module: nn.Module, inputs, output) -> None:
        if isinstance(module, nn.LSTM):
            seen.append((module.training, output[0].dtype))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        main(["fit", "--config", str(CONFIG), *args])
    finally:
        handle.remove()
    return seen


def val_losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as file:
        return [float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")]


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [("bf16-mixed", torch.bfloat16), ("32-true", torch.float32)],
    ids=["bf16-mixed", "32-true"],
)
def test_precision_sets_lstm_compute_dtype(tiny_fit_args, precision, dtype):
    """The fit completes with a finite val/loss and every LSTM call (train and eval) computes in the
    requested dtype (bf16 falls back to fp32 where the CPU has no bf16 LSTM kernel); the fp32 control
    shows the hook tells the two apart."""
    if dtype == torch.bfloat16 and not cpu_bf16_lstm_works():
        dtype = torch.float32
    seen = fit_recording_lstm_dtypes([*tiny_fit_args, f"--trainer.precision={precision}"])
    assert any(training for training, _ in seen), "no training-time LSTM call was recorded"
    assert any(not training for training, _ in seen), "no validation-time LSTM call was recorded"
    assert {d for _, d in seen} == {dtype}

    losses = val_losses(Path("runs/char_lstm/version_0"))
    assert losses and all(math.isfinite(v) for v in losses)
    ckpt = torch.load("runs/char_lstm/version_0/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6
    # Mixed precision keeps fp32 master weights.
    assert ckpt["state_dict"]["model.rnn.rnn.weight_ih_l0"].dtype == torch.float32
