"""Where a run lives: ``<root_dir>/<name>/version_<N>/`` with config, checkpoints, metrics, W&B files.

A new run takes the next free version. Resuming (``ckpt_path`` set) reuses the directory the
checkpoint came from, so a resumed run appends to its own history instead of starting another.
Evaluating a run's checkpoint (``validate``, ``test``) adds a record of its own inside the run,
``evals/<verb>-<n>/``, and leaves the fit's files as they are.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.engine.errors import SettingError, UserError
from seqlab.engine.logger_settings import LoggerKind, WandbSettings
from seqlab.engine.work_files import probe_create


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
        checkpoint_every_n_steps: also write ``checkpoints/last.ckpt`` every this many optimizer
            steps, between validations (``None``: only at validations, at the end and on a stop
            signal). A run killed outright (``kill -9``, a lost node) then loses at most this many steps.
        checkpoint_every_minutes: also write ``last.ckpt`` when this many minutes of training have
            passed since it was last written (rank 0's clock decides for every process).
        quick: turn the experiment into a 1-2 minute check that it runs end to end: 40 steps,
            validation every 20 on 5 batches, W&B off (``--trainer.X`` flags given beside it win).
    """

    name: str = "default"
    root_dir: str = "runs"
    dir: str | None = None
    wandb: WandbSettings = field(default_factory=WandbSettings)
    logger: LoggerKind = "wandb"
    checkpoint_every_n_steps: int | None = None
    checkpoint_every_minutes: float | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        steps, minutes = self.checkpoint_every_n_steps, self.checkpoint_every_minutes
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise SettingError(f"run.checkpoint_every_n_steps must be a whole number >= 1 (got {steps!r})")
        if minutes is not None and not (isinstance(minutes, (int, float)) and 0 < minutes < math.inf):
            raise SettingError(f"run.checkpoint_every_minutes must be a number > 0 (got {minutes!r})")


RUN_DIR_ENV = "SEQLAB_RUN_DIR"  # set by rank 0 so that DDP children land in the same directory
LOG_DIR_ENV = "SEQLAB_LOG_DIR"  # likewise for the directory this command records into (an evaluation's)
EVALS_DIR = "evals"
_VERSION = re.compile(r"^version_(\d+)$")
_CANNOT_WRITE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
    errno.ENOENT,
    errno.ENOSPC,
    errno.EDQUOT,
}


class RunRecordError(UserError):
    """A run's records cannot be written where they belong; the message names the directory, the
    reason and what was being written."""


@contextlib.contextmanager
def writing(directory: Path, what: str) -> Iterator[None]:
    """Turn the file system's refusal to write into ``directory`` (read-only, not a directory) into a
    RunRecordError that says which directory and what was being written, instead of a traceback."""
    try:
        yield
    except OSError as err:
        if err.errno not in _CANNOT_WRITE:
            raise
        reason = os.strerror(err.errno) if err.errno else type(err).__name__
        blocker = next((p for p in (directory, *directory.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            what = f"{what} ({shown(blocker)} is a file, not a directory)"
        raise RunRecordError(f"cannot write the run directory {shown(directory)} ({reason}): {what}") from err


def shown(path: Path) -> str:
    """``path`` as the user would write it: relative to the working directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def check_writable(directory: Path, what: str) -> None:
    """Fail now, with a clear message, if files cannot be created in ``directory``."""
    with writing(directory, what):
        probe_create(directory)


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
        raise UserError(
            f"--ckpt_path: expected a checkpoint file, a run directory or `last` (seqlab {verb} runs one)"
        )
    if ckpt_path != "last":
        return resolve_checkpoint(ckpt_path)
    if not run_name:
        raise UserError("--ckpt_path last needs --run_name NAME (the run whose newest last.ckpt to use)")
    found = find_last(root_dir, run_name)
    if found is None:
        raise UserError(
            f"--ckpt_path last: no last.ckpt under {root_dir}/{run_name}/ (--run_name {run_name})"
        )
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
    with writing(base, "creating it"):
        base.mkdir(parents=True, exist_ok=True)
    return _new_numbered_dir(base, "version_", next_version(root_dir, name), "creating it")


def _new_numbered_dir(base: Path, prefix: str, number: int, what: str) -> Path:
    while True:
        candidate = base / f"{prefix}{number}"
        with writing(candidate, what):
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                if not candidate.is_dir():
                    raise
        number += 1


def new_eval_dir(run_dir: Path, verb: str) -> Path:
    """Create ``<run>/evals/<verb>-<n>`` with the next free ``n``: one evaluation's config, metrics and
    W&B run, beside (never over) the fit's."""
    base = run_dir / EVALS_DIR
    what = f"creating the record of this {verb} in it"
    with writing(run_dir, what):
        base.mkdir(exist_ok=True)
    taken = [int(m.group(1)) for p in base.iterdir() if (m := re.match(rf"^{verb}-(\d+)$", p.name))]
    return _new_numbered_dir(base, f"{verb}-", max(taken, default=-1) + 1, what)


def is_eval_dir(directory: Path) -> bool:
    """Whether ``directory`` is an evaluation's record inside a run (``<run>/evals/test-0``)."""
    return directory.parent.name == EVALS_DIR and re.match(r"^[a-z]+-\d+$", directory.name) is not None


def holds_results(directory: Path) -> bool:
    """Whether a run or evaluation directory holds anything worth keeping: a checkpoint or logged
    metrics (config, status and an empty W&B run alone are not)."""
    return (directory / "metrics.csv").is_file() or any(directory.rglob("*.ckpt"))


def discard(directory: Path) -> None:
    """Remove a directory this command created and that holds no results."""
    shutil.rmtree(directory, ignore_errors=True)


def read_latest(parent: Path) -> str | None:
    """Where ``<root>/<name>/latest`` points now (``None``: no link)."""
    try:
        return os.readlink(parent / "latest")
    except OSError:
        return None


def restore_latest(run_dir: Path, previous: str | None) -> None:
    """Undo :func:`point_latest` for ``run_dir``, unless another run has moved ``latest`` since."""
    link = run_dir.parent / "latest"
    if read_latest(run_dir.parent) != run_dir.name:
        return
    with contextlib.suppress(OSError):
        if previous is None:
            link.unlink()
        else:
            tmp = run_dir.parent / f".latest-{os.getpid()}"
            if tmp.is_symlink():
                tmp.unlink()
            tmp.symlink_to(previous)
            os.replace(tmp, link)


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
