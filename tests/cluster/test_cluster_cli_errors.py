"""`seqlab submit` and `seqlab jobs` say a wrong command line in one line, as every other verb does
(before: jsonargparse's `tip:` line and `error: unrecognized arguments: --nodez`, on two lines)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["submit", "slurm", "--config", "x.yaml", "--nodez", "2"],
            "unknown key --nodez; did you mean --nodes? (seqlab submit slurm --help lists the keys)",
        ),
        (["submit", "ray", "--config", "x.yaml", "--gpus", "abc"], "--gpus: expected int, got 'abc'"),
        (["submit", "k8s"], "the following arguments are required: config"),
        (["jobs", "staus", "slurm", "1"], "invalid choice: 'staus' (choose from 'status', 'logs', 'stop')"),
        (["jobs", "--folow", "logs", "ray", "1"], "unknown key --folow; did you mean --follow?"),
    ],
)
def test_wrong_command_line_is_one_line(argv: list[str], said: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seqlab", *argv], capture_output=True, text=True, timeout=120
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: ") and said in lines[0], lines
