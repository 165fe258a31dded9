"""Secrets stay out of what `seqlab submit` prints and writes (SLURM, Ray, Kubernetes), the Ray cluster's
dashboard is not open to the network, and the CI's SLURM setup skips only where SLURM is impossible."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from seqlab.cli import main
from seqlab.cluster.secrets import MASK, mask_env, mask_secrets

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
HF_TOKEN = "hf_kR2vX9qLm4TzW8pN"


def submit(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    main(["submit", *argv])
    return capsys.readouterr().out


def test_mask_secrets_by_name_and_by_value() -> None:
    env = {"WANDB_API_KEY": "k" * 40, "HF_TOKEN": HF_TOKEN, "DB_PASSWORD": "hunter2!", "HOME": "/home/ada"}
    text = f"key {'k' * 40} token={HF_TOKEN} /home/ada MY_SECRET=abc export HF_TOKEN=$HF_TOKEN"
    assert (
        mask_secrets(text, env)
        == f"key {MASK} token={MASK} /home/ada MY_SECRET={MASK} export HF_TOKEN=$HF_TOKEN"
    )
    assert mask_env(env) == {
        "WANDB_API_KEY": MASK,
        "HF_TOKEN": MASK,
        "DB_PASSWORD": MASK,
        "HOME": "/home/ada",
    }
    assert (
        mask_secrets('"SERVICE_TOKEN": "abcdef", "path": "x"', {})
        == f'"SERVICE_TOKEN": "{MASK}", "path": "x"'
    )


def test_ray_dry_run_masks_the_wandb_key(capsys: pytest.CaptureFixture[str], wandb_api_key: str) -> None:
    """A key named with --env is shown among the job's variables (the real submission sends it), its value
    is not."""
    args = ["ray", "--config", str(CONFIG), "--working_dir", str(REPO), "--dry_run", "true"]
    out = submit(capsys, [*args, "--env", "WANDB_API_KEY"])
    assert wandb_api_key not in out
    assert json.loads(out)["runtime_env"]["env_vars"]["WANDB_API_KEY"] == MASK


@pytest.fixture
def leaky_profile(tmp_path: Path, wandb_api_key: str) -> Path:
    """A SLURM site profile whose setup lines hold secrets in clear text (and one safe reference)."""
    profile = tmp_path / "site.yaml"
    setup = [
        "source /opt/venv/bin/activate",
        f"export WANDB_API_KEY={wandb_api_key}",
        f'export HF_TOKEN="{HF_TOKEN}"',
        "export WANDB_API_KEY=$WANDB_API_KEY",
    ]
    profile.write_text(yaml.safe_dump({"nodes": 1, "cpus_per_task": 2, "setup": setup}), encoding="utf-8")
    return profile


def test_slurm_dry_run_masks_secrets(
    capsys: pytest.CaptureFixture[str], leaky_profile: Path, wandb_api_key: str
) -> None:
    out = submit(
        capsys, ["slurm", "--profile", str(leaky_profile), "--config", str(CONFIG), "--dry_run=true"]
    )
    assert wandb_api_key not in out and HF_TOKEN not in out
    lines = out.splitlines()
    assert f"export WANDB_API_KEY={MASK}" in lines
    assert f'export HF_TOKEN="{MASK}"' in lines
    assert "export WANDB_API_KEY=$WANDB_API_KEY" in lines


def test_slurm_submission_refuses_to_write_a_secret(
    leaky_profile: Path, wandb_api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before sbatch runs, with no run directory left behind; the message says what to do.
    (No sbatch on PATH: without the refusal this fails on that, and submits nothing anywhere.)"""
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    with pytest.raises(SystemExit) as info:
        main(["submit", "slurm", "--profile", str(leaky_profile), "--config", str(CONFIG)])
    message = str(info.value.code)
    assert message.startswith(
        "seqlab submit: the batch script (a `setup` line or a fit argument) would hold a secret"
    )
    assert "sbatch passes the environment on" in message and wandb_api_key not in message
    assert not list(Path("runs").glob("*/version_*"))


def test_k8s_dry_run_masks_secrets_and_writing_refuses(
    capsys: pytest.CaptureFixture[str], wandb_api_key: str
) -> None:
    """A key pasted into a fit argument is masked in the printed manifest and refused in a written one."""
    argv = ["k8s", "--config", str(CONFIG), "--image", "registry.example/seqlab:1"]
    fit = ["--", f"--model.init_args.note={wandb_api_key}"]
    out = submit(capsys, [*argv, "--dry_run", "true", *fit])
    assert wandb_api_key not in out and f"note={MASK}" in out
    with pytest.raises(SystemExit) as info:
        main(["submit", *argv, "--output", "job.yaml", *fit])
    refusal = "the RayJob manifest (an --env value or a fit argument) would hold a secret"
    assert refusal in str(info.value.code)
    assert not Path("job.yaml").exists()


def test_ray_cluster_dashboard_listens_on_loopback_only() -> None:
    """The dashboard's Jobs API runs whatever it is sent: never bound to every interface."""
    launcher = yaml.safe_load((REPO / "deploy" / "ray-cluster.yaml").read_text(encoding="utf-8"))
    (head,) = [c for c in launcher["head_start_ray_commands"] if "ray start --head" in c]
    assert "--dashboard-host=127.0.0.1" in head
    commands = launcher["head_start_ray_commands"] + launcher["worker_start_ray_commands"]
    assert not any("0.0.0.0" in c for c in commands)


def fake_path(tmp_path: Path, apt_get: str | None) -> Path:
    """A PATH directory with what setup_slurm.sh needs before installing (id, hostname, tail, tr), no
    SLURM or munge binaries, and ``apt_get`` as the apt-get script (None: no apt-get at all)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id", "hostname", "tail", "tr"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    if apt_get is not None:
        script = bin_dir / "apt-get"
        script.write_text(f"#!/bin/sh\n{apt_get}\n", encoding="utf-8")
        script.chmod(0o755)
    return bin_dir


def setup_slurm(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "TMPDIR": str(tmp_path), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run(
        [shutil.which("bash"), str(REPO / ".ci" / "setup_slurm.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path runs only as root")
def test_setup_slurm_failed_install_fails_ci(tmp_path: Path) -> None:
    """apt-get exists but cannot install: a real failure (not 3, which CI turns into skipped tests).
    The script stops there, before it touches /etc (no slurmctld on this PATH)."""
    bin_dir = fake_path(tmp_path, 'echo "E: Unable to locate package slurmctld" >&2; exit 100')
    result = setup_slurm(tmp_path, bin_dir)
    assert result.returncode not in (0, 3), result.stderr
    assert "setup_slurm: failed: apt-get install slurmctld slurmd slurm-client munge failed" in result.stderr
    assert "Unable to locate package slurmctld" in result.stderr  # the apt-get log's tail
    assert (tmp_path / "setup_slurm_apt.log").is_file()


def test_setup_slurm_without_apt_get_is_unavailable(tmp_path: Path) -> None:
    """No package manager (or not root): exit 3, the tests' skip, with the reason."""
    result = setup_slurm(tmp_path, fake_path(tmp_path, None))
    assert result.returncode == 3, result.stderr
    assert "setup_slurm: unavailable:" in result.stderr
