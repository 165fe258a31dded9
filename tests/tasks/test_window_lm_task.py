"""FixedWindowLMTask end to end: `seqlab fit` on char_window.yaml with tiny data, a safe checkpoint holding
the carried token history, and `seqlab generate` from it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from seqlab.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_window.yaml"


def test_fit_checkpoint_and_generate(tiny_fit_args, capsys) -> None:
    """6 steps train with finite losses and val bpc; last.ckpt loads with weights_only=True and holds the
    task class, hyperparameters and the last 16 ids of each stream as the carried state; greedy
    generation prints the prompt plus the requested characters, the same twice."""
    main(["fit", "--config", str(CONFIG), *tiny_fit_args])
    run = Path("runs/char_window/version_0")
    with open(run / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert all(math.isfinite(float(r["val/bpc"])) for r in rows if r.get("val/bpc"))

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["seqlab"]["task_class"] == "seqlab.tasks.window_lm.FixedWindowLMTask"
    assert ckpt["hyper_parameters"]["net"]["context_size"] == 16
    (history,) = ckpt["seqlab"]["train_state"]["tensors"]
    assert history.dtype == torch.long and history.shape == (1, 4, 16)  # [world, B, k]

    def generate(*args: str) -> str:
        capsys.readouterr()
        main(["generate", "--ckpt_path", str(run), "--prompt", "def ", "--max_new_tokens", "30", *args])
        out = capsys.readouterr().out
        assert out.endswith("\n")  # print's newline; the sample itself may end in whitespace
        return out[:-1]

    greedy = generate("--temperature", "0")
    assert greedy.startswith("def ") and len(greedy) == 4 + 30
    assert generate("--temperature", "0") == greedy
    sampled = generate("--temperature", "1", "--seed", "1")
    assert sampled.startswith("def ") and len(sampled) == 4 + 30
