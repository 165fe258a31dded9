"""SLURM: the batch script `seqlab submit slurm` writes, and a real single-node SLURM on localhost
(Debian's slurmctld/slurmd/munge, started by .ci/setup_slurm.sh) running a tiny training job that
is requeued twice mid-run (by `scontrol requeue`: SIGTERM; by SIGUSR1: seqlab requeues itself) and
still finishes with every step trained exactly once."""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from seqlab.cli import main
from tests.ci_services import ci_setup

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
CPU_PROFILE = REPO / "configs" / "cluster" / "slurm_cpu.yaml"


def test_dry_run_prints_a_quoted_script_and_creates_nothing(capsys):
    main(
        [
            "submit",
            "slurm",
            "--profile",
            str(REPO / "configs" / "cluster" / "slurm_gpu.yaml"),
            "--config",
            str(CONFIG),
            "--nodes",
            "2",
            "--account=proj-7",
            "--time",
            "2-00:00:00",
            "--dry-run",
            "true",
            "--",
            "--trainer.max_steps=5000",
            "--model.net.dropout=0.2; touch pwned",
        ]
    )
    script = capsys.readouterr().out
    header = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    for expected in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--partition=gpu",
        "--account=proj-7",
        "--time=2-00:00:00",
        "--signal=USR1@120",
        "--requeue",
    ):
        assert f"#SBATCH {expected}" in header
    (srun,) = [line for line in script.splitlines() if line.startswith("srun ")]
    args = shlex.split(srun)[1:]
    assert args[:4] == ["python", "-m", "seqlab", "fit"] and "--ckpt_path=last" in args
    assert f"--run.dir={Path('runs/char_lstm/version_0').resolve()}" in args
    assert [
        a for a in args if a.startswith(("--trainer.devices", "--trainer.num_nodes", "--trainer.strategy"))
    ] == ["--trainer.devices=4", "--trainer.num_nodes=2", "--trainer.strategy=ddp"]
    assert args[-1] == "--model.net.dropout=0.2; touch pwned"  # one argument, never run by the shell
    assert not Path("runs").exists()


@pytest.mark.parametrize("spelling", [["--dry-run"], ["--dry-run", "true"], ["--dry_run=true"]], ids=str)
def test_dry_run_is_a_bare_flag_or_takes_true(spelling, capsys):
    """Tried: bare `--dry-run` used to fail with "expected one argument"."""
    main(["submit", "slurm", "--config", str(CONFIG), *spelling, "--nodes", "1"])
    assert capsys.readouterr().out.startswith("#!/bin/bash\n")
    assert not Path("runs").exists()


def _srun_and_note(capsys, *options: str) -> tuple[list[str], str, str]:
    main(["submit", "slurm", "--config", str(CONFIG), "--dry-run", *options])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("srun ")]
    return shlex.split(lines[at])[1:], lines[at - 1], captured.err


def test_the_job_runs_the_python_the_profile_sets_up(capsys):
    """Tried: the script used to run this machine's interpreter by absolute path, so the profile's
    `source .venv/bin/activate` had no effect."""
    args, comment, err = _srun_and_note(capsys, "--profile", str(REPO / "configs/cluster/slurm_gpu.yaml"))
    assert args[0] == "python"
    assert comment == "# python: `python` on the PATH after the setup lines (`source .venv/bin/activate`)"
    assert "the job's python: `python` on the PATH after the setup lines" in err


def test_without_setup_lines_the_dry_run_says_whose_path_it_uses(capsys):
    args, comment, _ = _srun_and_note(capsys, "--profile", str(CPU_PROFILE))
    assert args[0] == "python" and "the PATH sbatch passes on from this shell" in comment


def test_an_explicit_python_is_written_as_given_never_resolved(capsys, tmp_path):
    link = tmp_path / "env" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    args, comment, err = _srun_and_note(capsys, "--python", str(link))
    assert args[0] == str(link) and comment == f"# python: {link} (--python)"
    assert f"the job's python: {link} (--python)" in err


@pytest.mark.parametrize("profile", sorted((REPO / "configs" / "cluster").glob("slurm_*.yaml")), ids=str)
def test_every_profile_renders(profile, capsys):
    main(["submit", "slurm", "--profile", str(profile), "--config", str(CONFIG), "--dry_run=true"])
    assert capsys.readouterr().out.startswith("#!/bin/bash\n")


@pytest.mark.parametrize(
    ("option", "message"),
    [("--partition=gpu;reboot", "not a SLURM partition"), ("--nodes=0", "need nodes >= 1")],
)
def test_bad_options_are_refused_before_anything_is_written(option, message):
    with pytest.raises(SystemExit, match=message):
        main(["submit", "slurm", "--config", str(CONFIG), option])
    assert not any(Path("runs/char_lstm").glob("version_*"))


@pytest.fixture
def activating_profile(tmp_path) -> Path:
    """The CPU profile plus a setup line that activates this environment, as a site profile would:
    the job then finds seqlab through `python` on its PATH."""
    activate = Path(sys.prefix) / "bin" / "activate"
    line = f"source {activate}" if activate.is_file() else f"export PATH={Path(sys.executable).parent}:$PATH"
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({**yaml.safe_load(CPU_PROFILE.read_text()), "setup": [line]}))
    return profile


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    """A running single-node SLURM; skipped (with the script's reason) only where it cannot be had."""
    ci_setup("setup_slurm.sh", "local SLURM")


def _state(job_id: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.split() if "=" in item)


def _wait(what: str, done, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _release_when_pending(job_id: str) -> None:
    """SLURM holds a requeued job for about two minutes (BeginTime); let it start sooner. Not within
    the second of the requeue, though: slurmd refuses a job credential issued in the same second as
    the revocation of the old run's ("Job credential revoked") and the job would fail."""
    _wait("the job to be requeued", lambda: _state(job_id)["JobState"] == "PENDING")
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)


def _steps_in_checkpoint(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


@pytest.mark.slow
def test_job_survives_requeue_by_sigterm_and_by_sigusr1(
    slurm_cluster, activating_profile, tiny_fit_args, capsys
):
    steps = 400
    fit_args = [a for a in tiny_fit_args if not a.startswith("--trainer.max_steps")]
    fit_args += [f"--trainer.max_steps={steps}", "--trainer.val_check_interval=5", "--model.net.dropout=0"]
    main(["submit", "slurm", "--profile", str(activating_profile), "--config", str(CONFIG), "--", *fit_args])
    out = capsys.readouterr().out
    job_id = re.search(r"submitted SLURM job (\d+)", out).group(1)
    run = Path("runs/char_lstm/version_0")
    record = json.loads((run / "job.json").read_text())
    assert record["job_id"] == job_id and Path(record["script"]).is_file()
    last = run / "checkpoints" / "last.ckpt"
    try:
        # 1. An administrator's requeue: SLURM sends SIGTERM, seqlab saves after the current step.
        _wait("the first checkpoint", last.exists)
        subprocess.run(["scontrol", "requeue", job_id], check=True)
        _release_when_pending(job_id)
        _wait("the second start", lambda: "start 1 " in Path(record["log"]).read_text())
        first_stop = _steps_in_checkpoint(last)

        # 2. The time-limit warning: SIGUSR1 to the job step; seqlab saves and requeues the job itself.
        _wait("progress after the restart", lambda: _steps_in_checkpoint(last) > first_stop)
        subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
        _release_when_pending(job_id)
        _wait("the job to finish", lambda: _state(job_id)["JobState"] == "COMPLETED", timeout=600)
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)

    log = Path(record["log"]).read_text()
    stops = [int(n) for n in re.findall(r"stopped by a signal after step (\d+)", log)]
    assert len(stops) == 2 and 0 < stops[0] < stops[1] < steps, log[-4000:]
    assert f"requeued SLURM job {job_id}" in log  # the second requeue was seqlab's own
    assert [int(n) for n in re.findall(r"start (\d+) on", log)] == [0, 1, 2]
    assert _state(job_id)["Restarts"] == "2"
    assert _steps_in_checkpoint(last) == steps
    with open(run / "metrics.csv", newline="") as file:
        trained = [int(r["step"]) for r in csv.DictReader(file) if r.get("train/loss")]
    assert trained == list(range(steps))  # every step once: nothing lost, nothing repeated

    capsys.readouterr()
    main(["jobs", "status", "slurm", job_id])
    status = json.loads(capsys.readouterr().out)
    assert (status["JobState"], status["Restarts"]) == ("COMPLETED", "2")
    main(["jobs", "logs", "slurm", job_id])
    assert capsys.readouterr().out == log


@pytest.mark.slow
def test_jobs_stop_cancels_a_running_job(slurm_cluster, activating_profile, tiny_fit_args, capsys):
    fit_args = [a for a in tiny_fit_args if not a.startswith("--trainer.max_steps")]
    main(["submit", "slurm", "--profile", str(activating_profile), "--config", str(CONFIG), "--", *fit_args])
    job_id = re.search(r"submitted SLURM job (\d+)", capsys.readouterr().out).group(1)
    try:
        _wait("the job to start", lambda: _state(job_id)["JobState"] == "RUNNING")
        main(["jobs", "stop", "slurm", job_id])
        assert f"cancelled SLURM job {job_id}" in capsys.readouterr().out
        _wait("the job to be cancelled", lambda: _state(job_id)["JobState"] == "CANCELLED")
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)
    with pytest.raises(SystemExit, match="not a SLURM job id"):
        main(["jobs", "stop", "slurm", "12; reboot"])
