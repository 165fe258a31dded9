"""End-to-end sweeps on a local Ray (loopback, started by the test): an ASHA sweep with a failing
trial, its table, best config and W&B records; an interrupted sweep that resumes."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from seqlab.cli import main
from seqlab.engine.run_status import read_status
from seqlab.tune import results
from seqlab.tune.cli import tune_main

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "configs" / "generation" / "char_lstm.yaml"
SCHEDULE = ("--trainer.max_steps", "--trainer.val_check_interval", "--run.wandb.mode")


@pytest.fixture(autouse=True)
def ray_shutdown():
    """Shut down the Ray that `seqlab tune` started in this process, and undo the environment variables
    it and Ray set (RAY_AUTH_MODE would make a later `ray start` demand a token)."""
    environment = dict(os.environ)
    yield
    import ray

    ray.shutdown()
    os.environ.clear()
    os.environ.update(environment)


def trial_args(tiny_fit_args: list[str]) -> list[str]:
    """The tiny-data arguments minus what the sweep sets itself (schedule) and W&B off."""
    return [a for a in tiny_fit_args if not a.startswith(SCHEDULE)]


def write_sweep(path: Path, **changes) -> Path:
    sweep = {
        "name": "tiny",
        "metric": "val/bpc",
        "mode": "min",
        "num_samples": 1,
        "overrides": {"trainer.max_steps": 8, "trainer.val_check_interval": 2},
        "resources": {"cpu": 1},
        "max_concurrent_trials": 2,
        **changes,
    }
    path.write_text(yaml.safe_dump(sweep))
    return path


@pytest.mark.slow
def test_asha_sweep_records_a_failing_trial_and_writes_table_and_best_config(
    tiny_fit_args, tmp_path, wandb_records, capfd
):
    """Four trials; hidden_size -4 makes one raise while the others run. The table, results.csv and
    best_config.yaml come out; the best config trains with `seqlab fit`; each trial's offline W&B run
    carries its hyperparameters, metrics and the sweep's group. The console shows a start line, one
    line per trial and the table last (see assert_quiet_sweep_output)."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        space={"model.init_args.net.hidden_size": {"grid": [16, 24, 32, -4]}},
        scheduler={"name": "asha", "max_t": 4, "grace_period": 1, "reduction_factor": 2},
    )
    rows = tune_main(["--config", str(EXPERIMENT), "--sweep", str(sweep), "--", *trial_args(tiny_fit_args)])
    output = capfd.readouterr()

    sweep_dir = tmp_path / "runs" / "sweeps" / "tiny" / "version_0"
    assert len(rows) == 4
    assert_quiet_sweep_output(output.out, output.err, rows, sweep_dir)
    (failed,) = [r for r in rows if r.status == "failed"]
    assert failed.point == {"model.init_args.net.hidden_size": -4} and failed.error
    ran = [r for r in rows if r.status != "failed"]
    assert all(r.status in ("finished", "stopped early") and not math.isnan(r.best) for r in ran)
    assert rows[0].best == min(r.best for r in ran)  # best first
    with open(sweep_dir / "results.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert [t["trial"] for t in table] == [r.trial_id for r in rows]
    assert {t["status"] for t in table} >= {"failed"}

    best = yaml.safe_load((sweep_dir / "best_config.yaml").read_text())
    assert (
        best["model"]["init_args"]["net"]["hidden_size"] == rows[0].point["model.init_args.net.hidden_size"]
    )
    assert "dir" not in best["run"] and not best["trainer"]["callbacks"]
    main(
        ["fit", "--config", str(sweep_dir / "best_config.yaml"), "--run.name=refit", "--trainer.max_steps=2"]
    )
    assert (tmp_path / "runs" / "refit" / "version_0" / "checkpoints" / "last.ckpt").is_file()

    for row in ran:
        trial_dir = sweep_dir / "trials" / row.trial_id
        (offline,) = wandb_records.offline_runs(trial_dir)
        info = wandb_records.summary(offline)
        assert (
            info["config"]["model.init_args.net.hidden_size"] == row.point["model.init_args.net.hidden_size"]
        )
        assert info["summary"]["val/bpc"] == pytest.approx(row.last, rel=1e-6)
        assert wandb_records.run_record(offline)["run_group"] == "tiny"


# What a sweep printed before (issue 17): Ray's token note, Tune's status and trial tables every 30 s,
# each trial's Lightning/LightningCLI/W&B lines forwarded from its worker, and a failed trial's traceback.
NOISE = (
    "Token authentication is enabled",
    "Trial status:",
    "Configuration for experiment",
    "View detailed results here",
    "Trials did not complete",
    "╭",
    "(run_trial pid=",
    "LightningCLI",
    "GPU available:",
    "Traceback (most recent call last)",
)


def assert_quiet_sweep_output(out: str, err: str, rows: list, sweep_dir: Path) -> None:
    """A start line naming the sweep and its trials, one line per trial (a failed one with its error
    and log file, which holds the trial's own output), none of the noise, and the table last."""
    for noise in NOISE:
        assert noise not in out + err, f"{noise!r} printed:\n{(out + err)[-3000:]}"
    lines = out.rstrip("\n").splitlines()
    assert lines[0].startswith(f"seqlab tune: sweep tiny, {len(rows)} trials, 2 at a time"), lines[0]
    for row in rows:
        (line,) = [x for x in lines if x.startswith(f"trial {row.trial_id} ")]
        if row.status == "failed":
            log = sweep_dir / "trials" / row.trial_id / "trial.log"
            assert row.error in line and line.endswith(f"trials/{row.trial_id}/trial.log"), line
            assert "hidden_size" in log.read_text()  # the trial's own output, traceback and all
        else:
            assert line.startswith(f"trial {row.trial_id} {row.status}: val/bpc "), line
    table = results.table(rows, "val/bpc").splitlines()
    assert lines[-len(table) :] == table, "\n".join(lines[-10:])


def _wait_for(predicate, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"seqlab tune ended early: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.5)


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tiny_fit_args, tmp_path):
    """SIGINT after the first of three one-at-a-time trials finished; `seqlab tune --resume` runs the
    other two and leaves the finished one alone (one fit, one W&B run, status file untouched)."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        space={"model.init_args.net.hidden_size": {"grid": [16, 24, 32]}},
        scheduler={"name": "fifo"},
        max_concurrent_trials=1,
        overrides={"trainer.max_steps": 16, "trainer.val_check_interval": 2},
    )
    command = [sys.executable, "-m", "seqlab", "tune", "--config", str(EXPERIMENT), "--sweep", str(sweep)]
    log = tmp_path / "tune.log"  # a file, not a pipe: Ray writes more than a pipe holds unread
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--", *trial_args(tiny_fit_args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    sweep_dir = tmp_path / "runs" / "sweeps" / "tiny" / "version_0"
    trials = sweep_dir / "trials"

    def finished() -> list[Path]:
        done = [d for d in trials.glob("*") if read_status(d).get("state") == "finished"]
        return sorted(done)

    try:
        _wait_for(lambda: finished() and len(list(trials.glob("*"))) >= 2, 300, proc, log)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    out = log.read_text()
    assert "resume with `seqlab tune --resume" in out, out[-3000:]
    first = finished()
    assert 1 <= len(first) < 3
    before = {d.name: (d / "status.json").read_text() for d in first}

    rows = tune_main(["--resume", str(sweep_dir)])
    assert sorted(r.status for r in rows) == ["finished"] * 3
    for d in first:
        assert (d / "status.json").read_text() == before[d.name]  # not run again
        assert json.loads(before[d.name])["step"] == 16
    assert all(read_status(trials / r.trial_id)["step"] == 16 for r in rows)


@pytest.mark.slow
def test_pbt_exploits_by_checkpoint_with_the_mutated_learning_rate(tiny_fit_args, tmp_path):
    """Two PBT trials, perturbed after every fourth validation: the worse one restarts from the better
    one's checkpoint (copied into its run as from_tune.ckpt) and trains on with its own, mutated
    learning rate, not the one the checkpoint's optimizer state brought back.

    Whether PBT exploits at all depends on when Ray's driver sees the two trials' results: on the
    2-core AMD EPYC CI machine about half of the sweeps ended with both trials reporting but no
    exploit. So up to 5 sweeps run until one exploits; every sweep's trials must finish all 24
    validations, and the exploited one is checked in full."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        num_samples=2,
        space={"model.init_args.optimizer.init_args.lr": {"choice": [1.0e-4, 3.0e-2]}},
        scheduler={"name": "pbt", "perturbation_interval": 4, "quantile_fraction": 0.5},
        search={"algorithm": "random", "seed": 3},
        # Every Tune checkpoint kept: a lagging trial may exploit one reported 4+ results ago.
        overrides={"trainer.max_steps": 48, "trainer.val_check_interval": 2},
        checkpoints_to_keep=30,
    )
    command = ["--config", str(EXPERIMENT), "--sweep", str(sweep), "--", *trial_args(tiny_fit_args)]
    environment = dict(os.environ)
    for attempt in range(5):
        if attempt:  # a fresh local Ray for the next sweep, as the ray_shutdown fixture does between tests
            import ray

            ray.shutdown()
            os.environ.clear()
            os.environ.update(environment)
        rows = tune_main(command)
        assert sorted(r.status for r in rows) == ["finished", "finished"]
        assert all(r.iterations == 24 for r in rows)
        trials = tmp_path / "runs" / "sweeps" / "tiny" / f"version_{attempt}" / "trials"
        started = {d: json.loads((d / "trial_args.json").read_text()) for d in trials.iterdir()}
        restored = [d for d, args in started.items() if any(a.endswith("from_tune.ckpt") for a in args)]
        if restored:  # (trial_args.json holds each trial's latest start)
            break
    assert restored, "no trial was exploited in 5 sweeps"
    for trial in restored:
        names = {p.name for p in (trial / "checkpoints").iterdir()}
        assert "last.ckpt" in names and names <= {"best.ckpt", "from_tune.ckpt", "last.ckpt"}  # no -v1
    # Every result Tune recorded carries the trial's config at that time; the learning rate the run
    # logged must be that one, also after an exploit restored another trial's optimizer state.
    key = "model.init_args.optimizer.init_args.lr"
    files = (trials.parent / "tune").glob("*/result.json")
    results = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert results
    for result in results:
        assert result["lr"] == pytest.approx(result["config"][key], rel=1e-6), result


@pytest.mark.slow
def test_optuna_search(tiny_fit_args, tmp_path):
    """Ray's Optuna integration draws the points (TPE), within the space, concurrency 1."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        num_samples=3,
        space={"model.init_args.optimizer.init_args.lr": {"loguniform": [1.0e-4, 1.0e-2]}},
        search={"algorithm": "optuna", "seed": 0},
        scheduler={"name": "fifo"},
        max_concurrent_trials=1,
    )
    rows = tune_main(["--config", str(EXPERIMENT), "--sweep", str(sweep), "--", *trial_args(tiny_fit_args)])
    assert sorted(r.status for r in rows) == ["finished"] * 3
    lrs = [r.point["model.init_args.optimizer.init_args.lr"] for r in rows]
    assert len(set(lrs)) == 3 and all(1.0e-4 <= lr <= 1.0e-2 for lr in lrs)


@pytest.mark.slow
def test_a_trial_can_be_a_two_process_ddp_job_on_ray_train(tiny_fit_args, tmp_path, wandb_records):
    """`resources.workers: 2` runs the trial's fit as two DDP processes on Ray Train: the checkpoint
    carries both ranks' stream states, the metrics reach Tune, and only rank 0 logs to W&B."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        space={"model.init_args.net.hidden_size": {"choice": [16]}},
        scheduler={"name": "fifo"},
        overrides={"trainer.max_steps": 6, "trainer.val_check_interval": 2},
        resources={"cpu": 1, "workers": 2},
    )
    rows = tune_main(
        [
            "--config",
            str(EXPERIMENT),
            "--sweep",
            str(sweep),
            "--",
            *trial_args(tiny_fit_args),
            "--trainer.precision=32",
        ]
    )
    ((row,),) = [rows]
    assert row.status == "finished" and row.iterations == 3 and not math.isnan(row.best)
    trial = tmp_path / "runs" / "sweeps" / "tiny" / "version_0" / "trials" / row.trial_id
    ckpt = torch.load(trial / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 6 and ckpt["seqlab"]["train_state"]["world_size"] == 2
    (offline,) = wandb_records.offline_runs(trial)
    assert wandb_records.summary(offline)["summary"]["val/bpc"] == pytest.approx(row.last, rel=1e-6)


@pytest.mark.slow
def test_sweep_on_an_existing_ray_cluster(ray_cluster, tiny_fit_args, tmp_path):
    """`--address` joins a running Ray head (started by `ray start`, token auth on) instead of
    starting one; the trials run on it and land in the sweep directory. (A fresh `seqlab tune`
    process, as users run it: this test process has had Ray sessions of its own.)"""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        num_samples=1,
        space={"model.init_args.net.hidden_size": {"grid": [16, 24]}},
        scheduler={"name": "fifo"},
    )
    args = ["--config", str(EXPERIMENT), "--sweep", str(sweep), "--address", ray_cluster.gcs]
    log = tmp_path / "tune.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "seqlab", "tune", *args, "--", *trial_args(tiny_fit_args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    port = ray_cluster.gcs.rsplit(":", 1)[1]
    assert re.search(rf"Connecting to existing Ray cluster at address: [\d.]+:{port}\b", text), text[-3000:]
    with open(tmp_path / "runs" / "sweeps" / "tiny" / "version_0" / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(r["status"] for r in rows) == ["finished", "finished"]
    assert all(r["iterations"] == "4" for r in rows)


@pytest.mark.slow
def test_a_misspelt_metric_fails_every_trial_at_once_and_the_sweep_exits_1(tiny_fit_args, tmp_path, capfd):
    """`metric: val/bcp` (for val/bpc): each trial fails at the sanity validation, before its first
    training step, naming the metrics the task does log; `seqlab tune` then ends in one error line and
    exit status 1 (it printed the table and exited 0)."""
    sweep = write_sweep(
        tmp_path / "sweep.yaml",
        metric="val/bcp",
        num_samples=2,
        space={"model.init_args.optimizer.init_args.lr": {"loguniform": [1.0e-4, 1.0e-2]}},
        max_failures=0,
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--config", str(EXPERIMENT), "--sweep", str(sweep), "--", *trial_args(tiny_fit_args)])
    assert exit_info.value.code == 1
    error = capfd.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("seqlab: error: all 2 trials failed; the first: KeyError:")
    assert "'val/bcp' is not logged by this task; it logs val/bpc," in error
    (sweep_dir,) = (tmp_path / "runs" / "sweeps" / "tiny").iterdir()
    for trial_dir in (sweep_dir / "trials").iterdir():
        assert read_status(trial_dir)["step"] == 0  # no training step was spent on it
