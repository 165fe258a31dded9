"""`seqlab runs` lists local runs with their state and best metric; `seqlab report` draws their learning
curves; `--run.logger` swaps W&B for TensorBoard or CSV only."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.engine.fit_lock import FitLock
from seqlab.engine.run_status import current_state, write_status
from tests.reliability.lock_holder import holding_lock

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
PNG = b"\x89PNG\r\n\x1a\n"


def fit(tiny_fit_args: list[str], *extra: str) -> None:
    main(["fit", "--config", str(CONFIG), *tiny_fit_args, *extra])


def val_losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as file:
        return [float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")]


def test_runs_lists_state_and_best_metric(tiny_fit_args, capsys, tmp_path):
    fit(tiny_fit_args)
    fit(tiny_fit_args, "--run.name=other")
    finished = Path("runs/char_lstm/version_0")
    status = json.loads((finished / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 6
    assert status["best"] == pytest.approx(min(val_losses(finished)), abs=1e-6)
    # A run whose process is gone while its status still says running is reported as died.
    other = Path("runs/other/version_0")
    write_status(other, "running")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    status = json.loads((other / "status.json").read_text())
    (other / "status.json").write_text(json.dumps({**status, "pid": int(gone.stdout)}))
    capsys.readouterr()

    main(["runs", "--csv", "runs.csv"])
    out = capsys.readouterr().out
    with open("runs.csv", newline="") as file:
        rows = {r["run"]: r for r in csv.DictReader(file)}
    assert set(rows) == {"char_lstm/version_0", "other/version_0"}
    assert rows["char_lstm/version_0"]["state"] == "finished"
    assert rows["char_lstm/version_0"]["task"] == "GenerationTask"
    assert rows["char_lstm/version_0"]["best"] == f"val/loss={min(val_losses(finished)):.4g}"
    assert rows["char_lstm/version_0"]["step"] == "5"  # the last logged step (0-based)
    assert rows["other/version_0"]["state"] == "died"
    assert "char_lstm/version_0" in out and "died" in out


def test_runs_on_a_missing_root_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["runs", "--root_dir", "nowhere"])
    assert exit_.value.code == 2
    assert "nowhere: no such runs directory" in capsys.readouterr().err


def test_report_draws_every_panel_of_two_runs(tiny_fit_args, capsys):
    fit(tiny_fit_args)
    fit(tiny_fit_args, "--model.init_args.optimizer.init_args.lr=0.01")
    capsys.readouterr()
    main(["report", "runs/char_lstm/version_0", "runs/char_lstm/version_1", "--output", "report"])
    printed = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in printed)
    assert names == sorted(
        ["loss.png", "learning_rate.png", "gradient_norm.png", "throughput.png", "val_bpc.png", "val_ppl.png"]
    )
    for path in printed:
        assert Path(path).read_bytes().startswith(PNG) and Path(path).stat().st_size > 5000


def test_runs_and_report_read_what_a_crash_left_of_metrics_csv(tiny_fit_args, capsys):
    """A metrics.csv whose end a crash damaged (a cut row, bytes that are not UTF-8, NUL blocks), a
    status.json cut mid-write, and a run with only a damaged config.yaml: `seqlab runs` and `seqlab
    report` show what the readable rows hold (each was a UnicodeDecodeError traceback)."""
    fit(tiny_fit_args)
    run = Path("runs/char_lstm/version_0")
    best = f"val/loss={min(val_losses(run)):.4g}"
    with (run / "metrics.csv").open("ab") as file:
        file.write(b"6,0.1\x00\x00\x00\xff\xfe,garb")
    (run / "status.json").write_text('{"state": "runn', encoding="utf-8")
    capsys.readouterr()
    broken = Path("runs/broken/version_0")  # only a config.yaml, cut mid-write with bad bytes after
    broken.mkdir(parents=True)
    (broken / "config.yaml").write_bytes(b"model:\n  class_path: [unclosed\n\x00\xff")
    main(["runs", "--csv", "runs.csv"])
    with open("runs.csv", newline="") as file:
        rows = {r["run"]: r for r in csv.DictReader(file)}
    row = rows["char_lstm/version_0"]
    assert (row["state"], row["step"], row["best"]) == ("unknown", "5", best)
    assert (rows["broken/version_0"]["task"], rows["broken/version_0"]["state"]) == ("?", "unknown")
    main(["report", str(run), "--output", "report"])
    assert "val_bpc.png" in capsys.readouterr().out


def test_report_of_a_directory_without_metrics_names_it(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path / "empty")])
    assert exit_.value.code == 2
    assert f"{tmp_path / 'empty' / 'metrics.csv'}: no metrics file" in capsys.readouterr().err


@pytest.mark.parametrize("logger", ["tensorboard", "csv"])
def test_logger_option_swaps_wandb_out(tiny_fit_args, logger):
    args = [a for a in tiny_fit_args if not a.startswith("--run.wandb.mode")]
    fit(args, f"--run.logger={logger}", "--run.wandb.mode=offline")
    run = Path("runs/char_lstm/version_0")
    assert not (run / "wandb").exists()
    assert val_losses(run)  # the CSV log is always written
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == (1 if logger == "tensorboard" else 0)
    if events:
        assert events[0].stat().st_size > 200


def test_a_running_status_whose_process_number_went_to_another_program_is_died():
    """A fit killed with SIGKILL leaves `running` and its pid; once that number belongs to another
    program (here `sleep`), the run is `died`, not running: `seqlab runs` says so, and a resume into it
    is not refused as if the fit were alive. A live Python process keeps `running`."""
    other = subprocess.Popen(["sleep", "30"])
    try:
        status = {"state": "running", "host": socket.gethostname()}
        assert current_state({**status, "pid": other.pid}) == "died"
        assert current_state({**status, "pid": os.getpid()}) == "running"
    finally:
        other.kill()
        other.wait()


def test_the_run_directory_lock_decides_running_or_died(capsys, tmp_path):
    """After a SIGKILL'd fit, `status.json` still says running, and its pid may belong to another live
    Python program: `seqlab runs` and the dashboard listed such a run as running for as long as that
    program lived. Where the run directory's lock names the recorded pid, it decides: free is died,
    held is running. Looking takes the lock shared for an instant, so a fit starting then waits for
    it rather than being refused (here a process holds it shared for 0.3 s)."""
    run = tmp_path / "runs" / "lm" / "version_0"
    run.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (run / ".fit.lock").write_text(f"{other.pid} {socket.gethostname()}\n")
        status = {"state": "running", "host": socket.gethostname(), "pid": other.pid}
        (run / "status.json").write_text(json.dumps(status))
        assert current_state(status) == "running"  # the pid alone: a live Python program
        assert current_state(status, run) == "died"  # its lock is free
        main(["runs", "--root_dir", str(tmp_path / "runs")])
        assert "died" in capsys.readouterr().out
    finally:
        other.kill()
        other.wait()
    with holding_lock(run / ".fit.lock") as fit:
        status = {"state": "running", "host": socket.gethostname(), "pid": fit.pid}
        (run / "status.json").write_text(json.dumps(status))
        assert current_state(status, run) == "running"
        main(["runs", "--root_dir", str(tmp_path / "runs")])
        assert "running" in capsys.readouterr().out
    assert current_state(status, run) == "died"  # its process was killed
    with holding_lock(run / ".fit.lock", mode="shared", seconds=0.3):
        lock = FitLock()
        try:
            assert lock.take(run) is True
        finally:
            lock.release()
