"""What a finished (or interrupted) sweep leaves: a results table (terminal and CSV), the best trial's
resolved config as a ready-to-run YAML, and its checkpoint."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from seqlab.console import format_table
from seqlab.tune.report import STOPPED_MARKER
from seqlab.tune.trial import REPORT_CALLBACK, trial_run_dir

UNFINISHED = ("PENDING", "RUNNING", "PAUSED")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt): .+")


@dataclass
class TrialRow:
    """One trial's outcome.

    Attributes:
        trial_id: Tune's id (also the name of its run directory).
        status: ``finished``, ``stopped early`` (by the scheduler), ``failed`` or ``unfinished``.
        iterations: validations reported.
        best: the best value of the sweep metric it reported (NaN: none).
        last: the last value it reported.
        point: its hyperparameters.
        seconds: training time.
        error: the first line of its error, if it failed.
    """

    trial_id: str
    status: str
    iterations: int
    best: float
    last: float
    point: dict[str, Any]
    seconds: float
    error: str = ""


def all_failed(rows: list[TrialRow]) -> str | None:
    """The error line of a sweep whose every trial failed (``seqlab tune`` then exits 1, so that a
    script or a job scheduler sees it), or ``None``."""
    if not rows or any(row.status != "failed" for row in rows):
        return None
    return f"all {len(rows)} trials failed; the first: {rows[0].error or 'no error recorded'}"


def error_line(error: Any) -> str:
    """The root exception's ``Type: message`` line (chained tracebacks print the root first)."""
    if error is None:
        return ""
    lines = str(error).strip().splitlines()
    found = next((m.group(0) for line in lines if (m := _EXCEPTION_LINE.match(line.strip()))), None)
    return found or (lines[-1] if lines else type(error).__name__)


def _status(trial_status: str, error: Any, run_dir: Path, iterations: int, budget: int | None) -> str:
    """A trial the scheduler stopped is TERMINATED to Ray like one that ran to its end; the marker
    :class:`ReportToTune` leaves tells them apart. Stopped on reaching the scheduler's budget
    (ASHA's ``max_t``) counts as finished."""
    if error is not None or trial_status == "ERROR":
        return "failed"
    if trial_status in UNFINISHED:
        return "unfinished"
    stopped = (run_dir / STOPPED_MARKER).is_file()
    return "stopped early" if stopped and (budget is None or iterations < budget) else "finished"


def saved_statuses(tune_dir: Path) -> dict[str, str]:
    """Trial id -> status as Tune last saved the experiment. After an interruption Tune saves the
    running trials as RUNNING and only then stops them (its in-memory trials then say TERMINATED)."""
    from ray.tune import ExperimentAnalysis

    return {t.trial_id: t.status for t in ExperimentAnalysis(str(tune_dir)).trials}


def collect(
    grid: Any, metric: str, mode: str, sweep_dir: Path, statuses: dict[str, str], budget: int | None = None
) -> list[TrialRow]:
    """Rows of a Ray ``ResultGrid``, best first (failed and metric-less trials last); ``statuses``: see
    :func:`saved_statuses`; ``budget``: the iterations after which the scheduler stops every trial
    (ASHA's ``max_t``)."""
    rows = []
    for result in grid:
        trial_id = Path(result.path).name
        last = result.metrics or {}
        history = result.metrics_dataframe
        values = (
            [float(v) for v in history[metric].dropna()] if history is not None and metric in history else []
        )
        best = (min(values) if mode == "min" else max(values)) if values else math.nan
        error = error_line(result.error)
        iterations = int(last.get("iteration", 0) or 0)
        run_dir = trial_run_dir(sweep_dir, trial_id)
        rows.append(
            TrialRow(
                trial_id=trial_id,
                status=_status(statuses.get(trial_id, ""), result.error, run_dir, iterations, budget),
                iterations=iterations,
                best=best,
                last=float(last.get(metric, math.nan)),
                point=dict(result.config or {}),
                seconds=float(last.get("time_total_s", 0.0) or 0.0),
                error=error,
            )
        )
    sign = 1 if mode == "min" else -1
    rows.sort(key=lambda r: (math.isnan(r.best), sign * r.best if not math.isnan(r.best) else 0.0))
    return rows


def _header(rows: list[TrialRow], metric: str) -> list[str]:
    keys = sorted({k for r in rows for k in r.point})
    return ["trial", "status", "iterations", f"best {metric}", f"last {metric}", *keys, "seconds", "error"]


def _cells(row: TrialRow, keys: list[str]) -> list[Any]:
    return [
        row.trial_id,
        row.status,
        row.iterations,
        row.best,
        row.last,
        *(row.point.get(k, "") for k in keys),
        round(row.seconds, 1),
        row.error,
    ]


def write_csv(rows: list[TrialRow], metric: str, path: Path) -> Path:
    header = _header(rows, metric)
    keys = header[5:-2]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(_cells(r, keys) for r in rows)
    return path


def table(rows: list[TrialRow], metric: str) -> str:
    header = _header(rows, metric)
    keys = header[5:-2]
    short = [h.rsplit(".", 1)[-1] if h in keys else h for h in header]  # init_args.lr -> lr
    return format_table(short, [_cells(r, keys) for r in rows])


def best_config(run_dir: Path) -> dict[str, Any]:
    """The trial's resolved config, made standalone: no trial directory, no Tune callback, no resume,
    no sweep group."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    config.pop("ckpt_path", None)
    config.pop("config", None)
    run = config.get("run") or {}
    run.pop("dir", None)
    if isinstance(run.get("wandb"), dict):
        run["wandb"]["group"] = None
    trainer = config.get("trainer") or {}
    callbacks = [c for c in trainer.get("callbacks") or [] if c.get("class_path") != REPORT_CALLBACK]
    trainer["callbacks"] = callbacks or None
    return config


def write_best(rows: list[TrialRow], sweep_dir: Path) -> tuple[Path, Path | None] | None:
    """``best_config.yaml`` of the best trial; returns it and the trial's best checkpoint (its last
    one where a PBT trial ended on another trial's checkpoint without validating again)."""
    best = next((r for r in rows if not math.isnan(r.best)), None)
    if best is None:
        return None
    run_dir = trial_run_dir(str(sweep_dir), best.trial_id)
    if not (run_dir / "config.yaml").is_file():
        return None
    path = sweep_dir / "best_config.yaml"
    header = f"# best trial {best.trial_id} of sweep {sweep_dir}: run it with `seqlab fit --config {path}`\n"
    path.write_text(header + yaml.safe_dump(best_config(run_dir), sort_keys=False), encoding="utf-8")
    found = [run_dir / "checkpoints" / name for name in ("best.ckpt", "last.ckpt")]
    return path, next((p for p in found if p.is_file()), None)
