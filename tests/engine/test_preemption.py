"""Preemption: a stop signal at any moment ends the run after a whole step with a complete
``last.ckpt`` and exit status 143; resuming with ``--ckpt_path last`` ends exactly where an
uninterrupted run ends. Checkpoint files are replaced atomically, even when the writer is killed."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.engine.checkpoints import AtomicCheckpointIO, CheckpointError
from seqlab.engine.preemption import PREEMPTED_EXIT_CODE

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _val_losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as file:
        return {int(r["step"]): float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")}


def _train_steps(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as file:
        return [int(r["step"]) for r in csv.DictReader(file) if r.get("train/loss")]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_at_any_moment_then_resume_equals_uninterrupted(tiny_fit_args, signum):
    """A real `seqlab fit` process is signalled from outside at whatever step it has reached; it
    exits 143 with last.ckpt at that step, and resuming to 7 steps later gives the same weights,
    validation loss and an unbroken step history as a run that was never stopped (TBPTT LM with
    carried hidden state, dropout 0.3 whose masks come from the restored random state; fp32)."""
    exact = [*tiny_fit_args, "--model.net.dropout=0.3", "--trainer.precision=32-true"]
    exact += ["--trainer.val_check_interval=5", "--trainer.log_every_n_steps=1"]
    command = [sys.executable, "-m", "seqlab", "fit", "--config", str(CONFIG), *exact, "--run.name=stopped"]
    proc = subprocess.Popen(
        [*command, "--trainer.max_steps=100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    last = Path("runs/stopped/version_0/checkpoints/last.ckpt")
    deadline = time.monotonic() + 180
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last.exists(), f"no checkpoint appeared; stderr:\n{proc.stderr.read() if proc.stderr else ''}"
    time.sleep(0.3)  # land somewhere after the first validation, not on it
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == PREEMPTED_EXIT_CODE, stderr[-3000:]
    stopped_at = _load(last)["global_step"]
    assert 5 <= stopped_at < 100000
    assert f"stopped by a signal after step {stopped_at}" in stderr
    assert not list(last.parent.glob("*.partial"))

    end = stopped_at + 7
    main(
        [
            "fit",
            "--config",
            str(CONFIG),
            *exact,
            "--run.name=stopped",
            "--ckpt_path=last",
            f"--trainer.max_steps={end}",
        ]
    )
    main(["fit", "--config", str(CONFIG), *exact, "--run.name=straight", f"--trainer.max_steps={end}"])
    resumed, straight = Path("runs/stopped/version_0"), Path("runs/straight/version_0")
    a, b = _load(resumed / "checkpoints/last.ckpt"), _load(straight / "checkpoints/last.ckpt")
    assert a["global_step"] == b["global_step"] == end
    for key in b["state_dict"]:
        torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=0, atol=0, msg=key)
    val_a, val_b = _val_losses(resumed), _val_losses(straight)
    assert max(val_a) == max(val_b) and val_a[max(val_a)] == pytest.approx(val_b[max(val_b)], abs=1e-6)
    assert _train_steps(resumed) == _train_steps(straight) == list(range(end))  # no step lost or repeated


def test_atomic_checkpoint_replaces_or_keeps(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpt" / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    assert io.load_checkpoint(path)["step"] == 2

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError, match="cannot serialise"):
        io.save_checkpoint({"step": 3, "w": torch.ones(1000), "bad": Unpicklable()}, path)
    assert io.load_checkpoint(path)["step"] == 2  # the failed write left the old file
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_atomic_checkpoint_survives_a_killed_writer(tmp_path):
    """SIGKILL halfway through writing: the old checkpoint is still whole and loads."""
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.arange(10.0)}, path)
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from seqlab.engine.checkpoints import AtomicCheckpointIO, CheckpointError

        def dying_save(obj, file):
            file.write(b"\\x80" * 4096)
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = dying_save
        AtomicCheckpointIO().save_checkpoint({{"step": 2}}, {str(path)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    loaded = AtomicCheckpointIO().load_checkpoint(path)
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.arange(10.0))


def test_checkpoints_refuse_arbitrary_pickles(tmp_path):
    """Resuming reads with weights_only: a checkpoint that would run code on load is refused, with
    seqlab's message (never torch's advice to turn weights_only off)."""
    path = tmp_path / "evil.ckpt"
    torch.save({"step": 1, "payload": os.system}, path)  # a function: loading it would import os
    with pytest.raises(CheckpointError, match="is not a readable seqlab checkpoint") as caught:
        AtomicCheckpointIO().load_checkpoint(path)
    assert "weights_only" not in str(caught.value)


def test_checkpoint_files_are_as_readable_as_plain_files(tmp_path):
    """A checkpoint gets the mode any file would (0o666 less the umask), so a shared group can read
    it; a temporary file from ``mkstemp`` would leave it 0o600, owner only."""
    previous = os.umask(0o022)
    try:
        AtomicCheckpointIO().save_checkpoint({"w": torch.ones(2)}, tmp_path / "c.ckpt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "c.ckpt").stat().st_mode) == 0o644
    assert not list(tmp_path.glob("*.partial"))
