"""One run as the dashboard shows it, read from its directory alone (no checkpoint is loaded): status,
flattened config, metrics, latest media, checkpoints and offline W&B runs. Whatever is missing or
broken (a run killed halfway, a metrics file cut mid-line) becomes a note on the page, never an error.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqlab.data.errors import DataError
from seqlab.engine.run_status import current_state, read_status
from seqlab.reporting.metrics_file import read_metrics

MEDIA_NAME = re.compile(r"^(?P<key>.+)-step(?P<step>\d+)\.(?P<ext>png|csv)$")
Series = dict[str, list[tuple[int, float]]]


@dataclass
class Media:
    """The latest file of one media key (``val_samples``, ``val_confusion_matrix``...)."""

    key: str
    step: int
    path: Path


@dataclass
class RunView:
    """What the dashboard shows of one run; ``notes`` say what could not be read and why."""

    path: Path
    label: str
    status: dict[str, Any]
    state: str
    task: str
    config: dict[str, Any]
    metrics: Series
    media: list[Media]
    checkpoints: list[Path]
    best_checkpoint: Path | None
    wandb_runs: list[Path]
    wall_seconds: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def last_step(self) -> int | None:
        steps = [s for values in self.metrics.values() for s, _ in values]
        return max(steps) if steps else self.status.get("step")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config -> dotted keys as a user writes them on the command line (``model.net.hidden_size``:
    ``init_args`` levels left out); lists stay whole values."""
    if not isinstance(value, dict):
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        name = prefix if key == "init_args" else f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(inner, name) if isinstance(inner, dict) and inner else {name: inner})
    return flat


def _config(run_dir: Path, notes: list[str]) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        notes.append("no config.yaml (the run did not get as far as writing it)")
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        notes.append(f"config.yaml could not be read: {str(err).splitlines()[0]}")
        return {}
    return flatten(loaded) if isinstance(loaded, dict) else {}


def _metrics(run_dir: Path, notes: list[str]) -> Series:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        notes.append("no metrics yet (no metrics.csv): nothing was logged before the run stopped or so far")
        return {}
    try:
        series = read_metrics(run_dir)
        with path.open("rb") as file:
            file.seek(max(path.stat().st_size - 1, 0))
            cut = file.read(1) not in (b"\n", b"")
    except (DataError, ValueError, csv.Error, UnicodeDecodeError, OSError) as err:
        notes.append(f"metrics.csv could not be read: {str(err).splitlines()[0] if str(err) else err!r}")
        return {}
    if cut:
        notes.append(
            "metrics.csv ends mid-line (the run was cut off while writing it): its last row may be partial"
        )
    if not series:
        notes.append("metrics.csv holds no values yet")
    return series


def latest_media(run_dir: Path) -> list[Media]:
    """The newest file of each media key in ``<run>/media`` (``val_samples-step40.csv`` over ``-step20``)."""
    latest: dict[tuple[str, str], Media] = {}
    media_dir = run_dir / "media"
    for path in sorted(media_dir.iterdir()) if media_dir.is_dir() else []:
        match = MEDIA_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        key, step = (match["key"], match["ext"]), int(match["step"])
        if key not in latest or step > latest[key].step:
            latest[key] = Media(match["key"], step, path)
    return sorted(latest.values(), key=lambda m: (m.path.suffix != ".png", m.key))


def _wall_seconds(run_dir: Path) -> float | None:
    """From the config (written as the fit starts) to the last file the run wrote."""
    start = run_dir / "config.yaml"
    written = [run_dir / n for n in ("metrics.csv", "status.json")] + list(run_dir.glob("checkpoints/*.ckpt"))
    times = [p.stat().st_mtime for p in written if p.is_file()]
    if not start.is_file() or not times:
        return None
    return max(max(times) - start.stat().st_mtime, 0.0)


def _best_checkpoint(run_dir: Path, status: dict[str, Any], checkpoints: list[Path]) -> Path | None:
    recorded = status.get("best_checkpoint")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    named = run_dir / "checkpoints" / "best.ckpt"
    return named if named in checkpoints else None


def read_run(run_dir: Path, label: str) -> RunView:
    """Everything the dashboard shows of ``run_dir``; never raises on a partial or broken run."""
    notes: list[str] = []
    status = read_status(run_dir)
    if not status:
        notes.append("no readable status.json: state unknown")
    config = _config(run_dir, notes)
    metrics = _metrics(run_dir, notes)
    task = status.get("task") or config.get("model.class_path") or "?"
    checkpoints = sorted(run_dir.glob("checkpoints/*.ckpt"))
    state = current_state(status, run_dir) if status else "unknown"
    if state in ("died", "failed", "stopped"):
        logged = [s for values in metrics.values() for s, _ in values]
        step = status.get("step", max(logged) if logged else None)
        when = "before logging a step" if step is None else f"at step {step}"
        why = {
            "died": "its process is gone and recorded no end",
            "stopped": "a stop signal or a sweep's scheduler",
        }
        error = f": {status['error']}" if status.get("error") else ""
        notes.insert(0, f"the run {state} {when} ({why.get(state, 'an error')}){error}")
    return RunView(
        path=run_dir,
        label=label,
        status=status,
        state=state,
        task=str(task).rsplit(".", 1)[-1],
        config=config,
        metrics=metrics,
        media=latest_media(run_dir),
        checkpoints=checkpoints,
        best_checkpoint=_best_checkpoint(run_dir, status, checkpoints),
        wandb_runs=sorted(p for p in (run_dir / "wandb").glob("offline-run-*") if p.is_dir()),
        wall_seconds=_wall_seconds(run_dir),
        notes=notes,
    )


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``4m 05s``, ``12s``; empty when unknown."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def updated(status: dict[str, Any]) -> str:
    """When the status last changed, as recorded (local time of the run's host)."""
    stamp = status.get("updated", "")
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return str(stamp)
