"""Section ``fits``: every experiment config trains a few steps on the device in each precision.

Why: a config can parse and train on CPU yet break on CUDA (device placement, cuDNN's packed
sequences, fp16's GradScaler with manual optimization and clipping in the TBPTT language models).
Each config is one job (tiny data of its own kind, then one ``seqlab fit`` per precision, in-process
through ``seqlab.cli.main``), handed to a pool of long-lived worker processes so that torch and
Lightning are imported once per worker, not once per fit. A worker that hangs or dies is killed and
replaced; its job's missing fits become FAIL rows with the reason.

``python -m gpu_check.fits`` is the worker: it reads jobs (JSON lines) on stdin and writes each fit's
outcome to ``<job folder>/results.jsonl``, then touches ``<job folder>/done``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import yaml

from gpu_check.common import (
    CONFIGS,
    Context,
    Emitter,
    environ_with,
    experiment_configs,
    groups_dir,
    last_error_line,
    one_line,
    quiet_env,
)
from gpu_check.tiny import tiny_args

# Sources whose data takes longest to build go first, so the slowest jobs do not start last.
SLOW_SOURCES = {"BuiltinSpeech": 3, "CmudictG2P": 2, "CmudictStress": 2, "WordLanguages": 2}
JOB_SECONDS = {"cuda": 150.0, "cpu": 600.0}


@dataclass
class Job:
    config: str
    folder: str
    precisions: list[str]
    accelerator: str
    steps: int


def name_of(config: Path) -> str:
    """``generation/char_lstm`` for configs/generation/char_lstm.yaml."""
    return str(config.relative_to(CONFIGS).with_suffix(""))


def fit_root(workdir: str | Path, config: Path, precision: str) -> Path:
    """Where one fit's runs live (``--run.root_dir``)."""
    return Path(workdir) / "fits" / name_of(config) / precision / "runs"


def run_dir_of(workdir: str | Path, config: Path, precisions: list[str]) -> Path | None:
    """The run directory of a finished fit of ``config`` (first precision with a last.ckpt)."""
    for precision in precisions:
        found = sorted(fit_root(workdir, config, precision).glob("*/version_*/checkpoints/last.ckpt"))
        if found:
            return found[-1].parents[1]
    return None


# ---- worker side --------------------------------------------------------------------------------
def train_one(config: Path, args: list[str], precision: str, root: Path) -> None:
    """``seqlab fit`` in this process; its output goes to ``<root>/../fit.log``. A non-zero exit raises."""
    from seqlab.cli import main

    log = io.StringIO()
    argv = ["fit", "--config", str(config), *args, f"--trainer.precision={precision}"]
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            main([*argv, f"--run.root_dir={root}"])
    except SystemExit as done:
        if done.code not in (0, None):
            raise RuntimeError(f"exit {done.code}: {last_error_line(log.getvalue())}") from None
    finally:
        for name in ("SEQLAB_RUN_DIR", "SEQLAB_LOG_DIR"):  # a fit exports them into its process
            os.environ.pop(name, None)
        root.parent.mkdir(parents=True, exist_ok=True)
        (root.parent / "fit.log").write_text(log.getvalue(), encoding="utf-8")


def last_train_loss(metrics: Path) -> float | None:
    """The last logged training loss in a run's metrics.csv (``train/loss`` or the like)."""
    with metrics.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in (rows[0] if rows else {}) if c.startswith("train") and "loss" in c]
    columns.sort(key=lambda c: c != "train/loss")
    for row in reversed(rows):
        for column in columns:
            if row.get(column):
                return float(row[column])
    return None


def check_run(root: Path, steps: int) -> tuple[str, str]:
    """OK when the fit reached ``steps``, its weights are finite and its last train loss is finite."""
    import torch

    (ckpt,) = root.glob("*/version_*/checkpoints/last.ckpt")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    tensors = [t for t in state["state_dict"].values() if t.is_floating_point()]
    finite = all(bool(torch.isfinite(t).all()) for t in tensors)
    loss = last_train_loss(ckpt.parents[1] / "metrics.csv")
    loss_ok = loss is None or math.isfinite(loss)
    ok = finite and loss_ok and state["global_step"] == steps
    text = "no train loss logged" if loss is None else f"train loss {loss:.4g}"
    text += "" if loss_ok else " NOT finite"
    detail = f"{text}, step {state['global_step']}/{steps}, weights {'finite' if finite else 'NOT finite'}"
    return ("OK" if ok else "FAIL"), detail


def run_job(job: Job) -> None:
    """Every precision of one config; one JSON line per fit in results.jsonl, then ``done``."""
    folder, config = Path(job.folder), Path(job.config)
    device_args = [f"--trainer.accelerator={job.accelerator}", "--trainer.devices=1"]
    with (folder / "results.jsonl").open("a", encoding="utf-8") as results:
        try:
            args = [*tiny_args(config, folder / "data", job.steps), *device_args]
        except Exception as err:
            args, failure = [], one_line(err)
        for precision in job.precisions:
            start = time.perf_counter()
            try:
                if not args:
                    raise RuntimeError(failure)
                root = folder / precision / "runs"
                train_one(config, args, precision, root)
                result, detail = check_run(root, job.steps)
            except Exception as err:
                result, detail = "FAIL", one_line(err)
            line = {"precision": precision, "result": result, "detail": detail}
            results.write(json.dumps(line | {"seconds": time.perf_counter() - start}) + "\n")
            results.flush()
    (folder / "done").touch()


def worker() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("GPU_CHECK_THREADS", "1")))
    for line in sys.stdin:
        if line.strip():
            run_job(Job(**json.loads(line)))


# ---- section side -------------------------------------------------------------------------------
def weight(config: Path) -> int:
    source = yaml.safe_load(config.read_text())["data"].get("init_args", {}).get("source", {})
    return SLOW_SOURCES.get(str(source.get("class_path", "")).rsplit(".", 1)[-1], 1)


class Slot:
    """One worker process at a time, replaced when it hangs or dies."""

    def __init__(self, index: int, ctx: Context, threads: int) -> None:
        self.home = Path(ctx.workdir) / "fits" / f"worker-{index}"
        self.groups = groups_dir(ctx.workdir)
        self.env = quiet_env(self.home) | {"GPU_CHECK_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        self.proc: subprocess.Popen[str] | None = None
        self.log: IO[str] | None = None
        self.spawned = 0

    def start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.home.mkdir(parents=True, exist_ok=True)
            self.spawned += 1
            self.log = (self.home / f"worker-{self.spawned}.log").open("w", encoding="utf-8")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gpu_check.fits"],
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.home,
                env=environ_with(self.env),
                start_new_session=True,  # its own process group: a kill takes its children too
            )
            self.groups.mkdir(parents=True, exist_ok=True)
            (self.groups / str(self.proc.pid)).touch()
        return self.proc

    def log_tail(self) -> str:
        path = self.home / f"worker-{self.spawned}.log"
        return last_error_line(path.read_text(encoding="utf-8", errors="replace")[-20000:])

    def stop(self, kill: bool) -> None:
        if self.proc is None:
            return
        if kill and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        (self.groups / str(self.proc.pid)).unlink(missing_ok=True)
        self.proc = None


def run_on(slot: Slot, job: Job, ctx: Context, emit: Emitter, name: str) -> None:
    """Hand ``job`` to the slot's worker, wait for it (or its time limit), emit one row per precision."""
    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    limit = min(JOB_SECONDS[job.accelerator], ctx.left() - 5)
    proc = slot.start()
    proc.stdin.write(json.dumps(asdict(job)) + "\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    start = time.time()
    while not (folder / "done").exists() and proc.poll() is None and time.time() - start < limit:
        time.sleep(0.2)
    results = folder / "results.jsonl"
    lines = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    seen = set()
    for line in lines:
        r = json.loads(line)
        seen.add(r["precision"])
        emit.row(f"{name} {r['precision']}", r["result"], r["detail"], r["seconds"])
    if (folder / "done").exists():
        return
    if proc.poll() is None:
        reason = f"timed out after {time.time() - start:.0f} s (job limit)"
        slot.stop(kill=True)
    else:
        reason = f"worker died (exit {proc.returncode}): {slot.log_tail()}"
        slot.stop(kill=False)
    for precision in job.precisions:
        if precision not in seen:
            emit.row(f"{name} {precision}", "FAIL", reason, time.time() - start)


def run(ctx: Context, emit: Emitter) -> None:
    configs = sorted(experiment_configs(), key=lambda c: (-weight(c), str(c)))
    workers = max(1, min(6, ctx.cpus // 3) if ctx.accelerator == "cuda" else min(4, ctx.cpus))
    threads = max(1, ctx.cpus // workers)
    emit.meta(fit_workers=workers, fit_threads=threads)
    queue = deque(configs)
    lock = threading.Lock()

    def serve(index: int) -> None:
        slot = Slot(index, ctx, threads)
        try:
            while True:
                with lock:
                    config = queue.popleft() if queue else None
                if config is None:
                    return
                name = name_of(config)
                if ctx.left() < 15:
                    for precision in ctx.precisions:
                        emit.row(f"{name} {precision}", "SKIP", "section time budget spent")
                    continue
                folder = str(Path(ctx.workdir) / "fits" / name)
                job = Job(str(config), folder, ctx.precisions, ctx.accelerator, ctx.steps)
                try:
                    run_on(slot, job, ctx, emit, name)
                except Exception as err:
                    slot.stop(kill=True)
                    for precision in ctx.precisions:
                        emit.row(f"{name} {precision}", "FAIL", one_line(err))
        finally:
            slot.stop(kill=False)

    pool = [threading.Thread(target=serve, args=(k,), daemon=True) for k in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


if __name__ == "__main__":
    worker()
