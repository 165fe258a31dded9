"""The tests' way to the services and tools CI sets up (.ci/setup_*.sh): a local SLURM, a headless
Chromium."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def ci_setup(script: str, what: str) -> str:
    """Run ``.ci/SCRIPT`` (a local service or tool the tests need, set up as CI sets it up) and return
    its last word of output; skipped, with the script's reason, only on its exit status 3 (this machine
    cannot have it at all); any other failure fails the test."""
    result = subprocess.run(["bash", str(REPO / ".ci" / script)], capture_output=True, text=True, timeout=900)
    if result.returncode == 3:
        pytest.skip(f"no {what} here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    return words[-1] if words else ""
