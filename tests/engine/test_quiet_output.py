"""A tiny ``seqlab fit`` prints what a user needs and none of the library lines they cannot act on
(issue 17). Before seqlab.engine.quiet, this run printed every one of the NOISE lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

from seqlab.engine.quiet import quiet_library_noise

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"

NOISE = (
    "litlogger",  # Lightning's advertisement
    "The anonymous setting has no effect",  # W&B, answering Lightning's anonymous=None
    "LeafSpec",  # torch's pytree deprecation, raised in Lightning's code
    "The `srun` command is available",  # the srun hint outside a SLURM job
    "is not supported by the model summary",  # bf16-mixed and the summary's size estimate
    "smaller than the logging interval",  # log_every_n_steps longer than an epoch
    "exists and is not empty",  # the checkpoint directory of the run being resumed
)


def test_tiny_fit_prints_no_noise(tiny_fit_args: list[str]) -> None:
    """A fit, then its resume."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "WANDB_SILENT"}
    env["PYTHONPATH"] = str(REPO)
    args = [
        a for a in tiny_fit_args if not a.startswith(("--run.wandb.mode", "--trainer.enable_model_summary"))
    ]
    command = [sys.executable, "-m", "seqlab", "fit", "--config", str(CONFIG), *args]
    command += ["--run.wandb.mode=offline", "--trainer.log_every_n_steps=100000", "--trainer.max_steps=4"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert [line for line in output.splitlines() if any(n in line for n in NOISE)] == []
    assert "run directory: runs/char_lstm/version_0" in output
    assert "final validation: val/bpc=" in output
    assert "Total params" in output  # the model summary itself is kept
    assert "wandb sync" in output  # and how to upload the offline W&B run
    resumed = subprocess.run(
        [*command, "--ckpt_path=last", "--trainer.max_steps=6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output
    assert [line for line in output.splitlines() if any(n in line for n in NOISE)] == []
    assert re.search(r"^run directory: \S*runs/char_lstm/version_0$", output, re.M)  # the same run, continued


def test_missing_glyphs_in_figure_labels_are_not_reported(tmp_path) -> None:
    """An attention figure labelled with Japanese words (the ja->en recipe) on a machine without CJK
    fonts: matplotlib's one warning per missing character is hidden; other warnings still show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["。", "日本"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_library_noise()
        fig.savefig(tmp_path / "attention.png")
        warnings.warn("a warning of seqlab's own", UserWarning, stacklevel=1)
    plt.close(fig)
    assert [str(w.message) for w in caught] == ["a warning of seqlab's own"]
