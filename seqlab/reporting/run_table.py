"""``seqlab runs``: every run under a root directory with its task, state, best metric and path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from seqlab.data.errors import DataError
from seqlab.engine.run_dir import is_eval_dir
from seqlab.engine.run_status import current_state, read_status
from seqlab.reporting.metrics_file import best_value, read_metrics

RUN_MARKERS = ("config.yaml", "metrics.csv", "status.json")


@dataclass
class RunRow:
    """One run directory.

    Attributes:
        name: the run's path under the root (``char_lstm/version_3``, ``sweeps/s/version_0/trials/x``).
        task: the task class's name.
        state: running, finished, stopped, failed, died (its process is gone) or unknown.
        step: the last step it logged.
        best: ``<metric>=<best value>`` of the metric that picks its best checkpoint.
        updated: when its status last changed.
        path: the run directory.
    """

    name: str
    task: str
    state: str
    step: int | None
    best: str
    updated: str
    path: Path


def find_runs(root: Path) -> list[Path]:
    """Run directories under ``root``: those holding a config, metrics or status file (not the
    evaluations recorded inside a run, ``<run>/evals/test-0``)."""
    found = {p.parent for marker in RUN_MARKERS for p in root.rglob(marker)}
    return sorted(d for d in found if d.name != "latest" and not d.is_symlink() and not is_eval_dir(d))


def _task(run_dir: Path, status: dict) -> str:
    task = status.get("task")
    if not task and (run_dir / "config.yaml").is_file():
        try:
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            config = None  # a damaged record: the listing goes on without its task
        model = config.get("model") if isinstance(config, dict) else None
        task = model.get("class_path", "") if isinstance(model, dict) else ""
    return (task or "?").rsplit(".", 1)[-1]


def describe(run_dir: Path, root: Path) -> RunRow:
    status = read_status(run_dir)
    monitor, mode = status.get("monitor", "val/loss"), status.get("mode", "min")
    try:
        metrics = read_metrics(run_dir)
    except DataError:
        metrics = {}
    steps = [s for values in metrics.values() for s, _ in values]
    best = best_value(metrics.get(monitor, []), mode)
    return RunRow(
        name=str(run_dir.relative_to(root)),
        task=_task(run_dir, status),
        state=current_state(status, run_dir) if status else "unknown",
        step=max(steps) if steps else status.get("step"),
        best=f"{monitor}={best:.4g}" if best is not None else "",
        updated=status.get("updated", ""),
        path=run_dir,
    )


def list_runs(root: Path) -> list[RunRow]:
    return [describe(d, root) for d in find_runs(root)]
