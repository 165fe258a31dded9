"""A real 2-process CPU DDP ``seqlab fit`` (gloo), started as a user starts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.engine.test_ddp import run_cli

DDP = ["--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp"]


def run_ddp_fit(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``seqlab fit ARGS`` on 2 CPU processes in the current directory, killed as a process group on
    timeout (a rank left waiting in a collective hangs the run: the test then fails instead)."""
    return run_cli(["fit", *args, *DDP], cwd=Path.cwd(), timeout=timeout)
