"""End-to-end: a real 2-process DDP fit on CPU (gloo), launched as a subprocess like a user would."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
BATCH, SEQ_LEN, VAL_EVERY = 4, 250, 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def windows_per_rank(train_file: Path, world_size: int) -> int:
    """Training batches per epoch on each rank for a character model (one token per character)."""
    tokens = len(train_file.read_text(encoding="utf-8"))
    stream_length = (tokens - 1) // (BATCH * world_size)
    return math.ceil(stream_length / SEQ_LEN)


def run_cli(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run `python -m seqlab ...` in its own process group, killing the whole group on timeout."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEQLAB_RUN_DIR", "LOCAL_RANK", "WORLD_SIZE")}
    env["MASTER_ADDR"] = "127.0.0.1"
    env["MASTER_PORT"] = str(free_port())
    env["OMP_NUM_THREADS"] = "1"  # two processes on a 2-core machine: no oversubscribed thread pools
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"DDP fit did not finish in {timeout} s\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def ddp_fit_args(tiny_fit_args: list[str], max_steps: int) -> list[str]:
    """A tiny 2-process CPU DDP fit of the char LSTM config, validating every VAL_EVERY steps."""
    return [
        "fit",
        "--config",
        str(CONFIG),
        *tiny_fit_args,
        f"--data.seq_len={SEQ_LEN}",
        f"--data.batch_size={BATCH}",
        f"--trainer.max_steps={max_steps}",
        f"--trainer.val_check_interval={VAL_EVERY}",
        "--trainer.check_val_every_n_epoch=null",
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--run.wandb.mode=offline",
    ]


@pytest.mark.slow
def test_ddp_fit_two_processes_one_run(tiny_fit_args, tiny_corpus, tmp_path, wandb_records):
    """Both DDP ranks train in rank 0's version_0, last.ckpt reaches max_steps, and each rank saw only
    half of the training streams: an epoch is half as long as on one process. Only rank 0 logs to W&B:
    one W&B run per job."""
    per_rank = windows_per_rank(tiny_corpus["train"], world_size=2)
    assert windows_per_rank(tiny_corpus["train"], world_size=1) > per_rank  # the observable discriminates
    assert per_rank % VAL_EVERY == 0
    max_steps = per_rank + VAL_EVERY  # ends inside the second epoch when data is sharded over 2 ranks
    result = run_cli(ddp_fit_args(tiny_fit_args, max_steps), cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]

    runs = tmp_path / "runs" / "char_lstm"
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "version_0"]
    run = runs / "version_0"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == max_steps
    # World size 2: the epoch ran out after `per_rank` batches, so step max_steps is in epoch 1.
    assert ckpt["epoch"] == 1
    progress = ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
    assert progress == VAL_EVERY
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "best.ckpt").is_file()
    (offline,) = wandb_records.offline_runs(run)  # rank 1 started no W&B run, here or elsewhere
    assert sorted(p.name for p in tmp_path.rglob("offline-run-*")) == [offline.name]
    info = wandb_records.summary(offline)
    assert info["state"] == "finished" and info["summary"]["trainer/global_step"] == max_steps - 1
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    # Validation samples are drawn on rank 0 alone, and the other rank does not hang waiting for it.
    assert list((run / "media").glob("val_samples-step*.csv"))
    # Each rank's carried hidden state is saved (gathered), and the ranks' states differ: own streams.
    saved = ckpt["seqlab"]["train_state"]
    assert saved["world_size"] == 2 and saved["is_tuple"]
    h = saved["tensors"][0]
    assert h.shape[0] == 2 and not torch.equal(h[0], h[1])

    # A mid-epoch DDP resume restores each rank's slice and continues the step count.
    resumed = run_cli(
        [*ddp_fit_args(tiny_fit_args, max_steps + VAL_EVERY), "--ckpt_path=last"], cwd=tmp_path, timeout=240
    )
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "zero hidden state" not in resumed.stderr
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == max_steps + VAL_EVERY
    assert ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"] == 2 * VAL_EVERY
