"""A real 2-process CPU DDP ``seqlab fit`` (gloo), started as a user starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ddp_fit(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``seqlab fit ARGS`` on 2 CPU processes, killed as a process group on timeout (a rank left
    waiting in a collective hangs the run: the test then fails instead of hanging too)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEQLAB_RUN_DIR", "LOCAL_RANK", "WORLD_SIZE")}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), OMP_NUM_THREADS="1")
    ddp = ["--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", "fit", *args, *ddp],
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
