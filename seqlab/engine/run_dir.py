"""Where a run lives: ``<root_dir>/<name>/version_<N>/`` with config, checkpoints, metrics, W&B files.

A new run takes the next free version. Resuming (``ckpt_path`` set) reuses the directory the
checkpoint came from, so a resumed run appends to its own history instead of starting another.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.engine.loggers import LoggerKind, WandbSettings


@dataclass
class RunSettings:
    """Where and how a run is recorded.

    Args:
        name: run name; the run directory is ``<root_dir>/<name>/version_<N>``.
        root_dir: parent directory of all runs.
        dir: use exactly this run directory instead of the next free version (created if missing);
            with ``--ckpt_path last`` the run resumes from its own ``last.ckpt`` when there is one.
            Cluster jobs are bound to their directory this way: every rank and every restart of
            the job agree on it without talking to each other.
        wandb: Weights & Biases settings.
        logger: ``wandb`` (default), ``tensorboard`` or ``csv``; a CSV log is always written too.
    """

    name: str = "default"
    root_dir: str = "runs"
    dir: str | None = None
    wandb: WandbSettings = field(default_factory=WandbSettings)
    logger: LoggerKind = "wandb"


RUN_DIR_ENV = "SEQLAB_RUN_DIR"  # set by rank 0 so that DDP children land in the same directory
_VERSION = re.compile(r"^version_(\d+)$")


def versions(root_dir: str | os.PathLike[str], name: str) -> list[Path]:
    """Existing version directories of a run name, oldest first."""
    base = Path(root_dir) / name
    if not base.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in base.iterdir() if (m := _VERSION.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """``last.ckpt`` of a run directory if present."""
    last = run_dir / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def find_last(root_dir: str | os.PathLike[str], name: str) -> Path | None:
    """The ``last.ckpt`` of the newest version of ``name`` that has one."""
    for run_dir in reversed(versions(root_dir, name)):
        if ckpt := latest_checkpoint(run_dir):
            return ckpt
    return None


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run directory (its ``best.ckpt``, else ``last.ckpt``)."""
    path = Path(path)
    if path.is_dir():
        for candidate in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "best.ckpt", "last.ckpt"):
            if (path / candidate).is_file():
                return path / candidate
        raise FileNotFoundError(f"{path}: a directory with no checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    return path


def checkpoint_path(ckpt_path: str | None, run_name: str | None, root_dir: str, verb: str) -> Path:
    """The checkpoint a ``seqlab <verb> --ckpt_path FILE|RUN_DIR|last [--run_name NAME]`` command means."""
    if not ckpt_path:
        raise SystemExit(f"seqlab {verb}: give `--ckpt_path FILE|RUN_DIR|last`")
    if ckpt_path != "last":
        return resolve_checkpoint(ckpt_path)
    if not run_name:
        raise SystemExit(f"seqlab {verb}: `--ckpt_path last` needs `--run_name NAME`")
    found = find_last(root_dir, run_name)
    if found is None:
        raise SystemExit(f"seqlab {verb}: no last.ckpt under {root_dir}/{run_name}/")
    return found


def run_dir_of_checkpoint(ckpt: Path) -> Path | None:
    """The run directory a checkpoint was written into, if it sits in ``<run>/checkpoints/``."""
    ckpt = Path(ckpt).resolve()
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None


def next_version(root_dir: str | os.PathLike[str], name: str) -> int:
    """The number the next ``version_N`` of a run name takes."""
    existing = versions(root_dir, name)
    return int(_VERSION.match(existing[-1].name).group(1)) + 1 if existing else 0


def new_run_dir(root_dir: str | os.PathLike[str], name: str) -> Path:
    """Create and return the next free ``version_N`` directory (safe against concurrent creators)."""
    base = Path(root_dir) / name
    base.mkdir(parents=True, exist_ok=True)
    number = next_version(root_dir, name)
    while True:
        candidate = base / f"version_{number}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1


def point_latest(run_dir: Path) -> None:
    """Keep ``<root>/<name>/latest`` pointing at the newest run (a relative symlink)."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run_dir.name)
        os.replace(tmp, link)
    except OSError:
        pass  # a filesystem without symlinks just has no `latest`
