"""Ray Jobs: a real Ray head on 127.0.0.1 (started and stopped by the test), a tiny training job
submitted with `seqlab submit ray`, its logs, status and checkpoint; `seqlab jobs stop` ends a job
the way Ray stops workers (SIGTERM), and seqlab saves the step it was on."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.cluster import ray_jobs

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
RAY = Path(sys.executable).parent / "ray"


@pytest.fixture
def ray_head(ray_cluster) -> str:
    """The dashboard address of a one-node Ray cluster on loopback (see conftest.ray_cluster)."""
    return ray_cluster.dashboard


def _submit(address: str, fit_args: list[str], *options: str) -> None:
    main(["submit", "ray", "--config", str(CONFIG), "--address", address, "--working_dir", str(REPO),
          "--root_dir", str(Path("runs").resolve()), "--python", sys.executable, *options,
          "--", *fit_args])  # fmt: skip


@pytest.mark.slow
def test_submitted_job_trains_and_leaves_logs_and_checkpoint(ray_head, tiny_fit_args, capsys):
    _submit(ray_head, tiny_fit_args, "--follow")
    out = capsys.readouterr().out
    job_id = re.search(r"submitted Ray job (\S+)", out).group(1)
    assert f"Ray job {job_id}: SUCCEEDED" in out
    assert "`Trainer.fit` stopped: `max_steps=6` reached" in out  # the followed logs
    run = Path("runs") / "char_lstm" / job_id
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    main(["jobs", "status", "ray", job_id, "--address", ray_head])
    assert json.loads(capsys.readouterr().out)["status"] == "SUCCEEDED"
    main(["jobs", "logs", "ray", job_id, "--address", ray_head])
    assert f"run directory: {run.resolve()}" in capsys.readouterr().out


@pytest.mark.slow
def test_stopping_a_job_saves_its_step(ray_head, tiny_fit_args, capsys):
    fit_args = [a for a in tiny_fit_args if not a.startswith("--trainer.max_steps")] + [
        "--trainer.max_steps=100000"
    ]
    _submit(ray_head, fit_args)
    job_id = re.search(r"submitted Ray job (\S+)", capsys.readouterr().out).group(1)
    last = Path("runs") / "char_lstm" / job_id / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.exists():
        assert time.monotonic() < deadline, ray_jobs.client(ray_head).get_job_logs(job_id)[-3000:]
        time.sleep(0.2)
    main(["jobs", "stop", "ray", job_id, "--address", ray_head])
    assert f"stopped Ray job {job_id}" in capsys.readouterr().out
    while (state := ray_jobs.status(ray_head, job_id)["status"]) not in ray_jobs.FINAL:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state == "STOPPED"
    logs = ray_jobs.client(ray_head).get_job_logs(job_id)
    step = int(re.search(r"stopped by a signal after step (\d+)", logs).group(1))
    assert torch.load(last, weights_only=True)["global_step"] == step


def test_refusals_name_the_problem(tmp_path):
    outside = tmp_path / "x.yaml"
    outside.write_text("run: {name: x}\n")
    with pytest.raises(SystemExit, match="not inside the working directory"):
        main(["submit", "ray", "--config", str(outside), "--working_dir", str(REPO), "--dry_run", "true"])
    with pytest.raises(SystemExit, match=r"cannot reach the Ray Jobs API at http://127\.0\.0\.1:9"):
        main(["jobs", "status", "ray", "seqlab-x", "--address", "http://127.0.0.1:9"])
    with pytest.raises(SystemExit, match=r"cannot reach"):  # a bare --follow parses (it used to need a value)
        main(["jobs", "logs", "ray", "seqlab-x", "--follow", "--address", "http://127.0.0.1:9"])


@pytest.mark.parametrize("spelling", [["--dry-run"], ["--dry-run", "true"]], ids=str)
def test_dry_run_shows_the_python_and_the_environment(spelling, capsys, monkeypatch):
    """Tried: bare `--dry-run` used to fail; the entrypoint used to name this machine's interpreter.
    Only the variables named with --env reach the job; a named secret is shown masked."""
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-123456")
    monkeypatch.setenv("FOO", "bar")
    main(["submit", "ray", "--config", str(CONFIG), "--working_dir", str(REPO), *spelling, "--env", "FOO",
          "--env=X=1", "--env", "WANDB_API_KEY"])  # fmt: skip
    captured = capsys.readouterr()
    spec = json.loads(captured.out)
    assert spec["entrypoint"][:4] == ["python", "-m", "seqlab", "fit"]
    assert spec["runtime_env"]["env_vars"] == {"FOO": "bar", "X": "1", "WANDB_API_KEY": "****"}
    assert "environment passed to the job: FOO=bar, X=1, WANDB_API_KEY=****" in captured.err
    assert "secret-key-123456" not in captured.out + captured.err


def test_the_submitting_shell_is_not_forwarded(capsys, monkeypatch):
    """Tried: WANDB_* and HF_*_OFFLINE of the submitting shell used to reach a Ray job unasked (as they
    did a k8s one): without --env the job gets no variables, and the dry run says so."""
    shell = {"WANDB_MODE": "offline", "WANDB_API_KEY": "secret-key-123456", "HF_HUB_OFFLINE": "1"}
    for name, value in {**shell, "HF_DATASETS_OFFLINE": "1", "SEQLAB_CACHE": "/tmp/c"}.items():
        monkeypatch.setenv(name, value)
    main(["submit", "ray", "--config", str(CONFIG), "--working_dir", str(REPO), "--dry-run"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["runtime_env"]["env_vars"] == {}
    assert "environment passed to the job: none (add --env NAME=VALUE" in captured.err
    with pytest.raises(SystemExit, match=r"seqlab submit ray: --env SEQLAB_UNSET_X: SEQLAB_UNSET_X is not"):
        main(["submit", "ray", "--config", str(CONFIG), "--working_dir", str(REPO), "--dry-run",
              "--env", "SEQLAB_UNSET_X"])  # fmt: skip
