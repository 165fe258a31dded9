"""What a ``RUN`` word on a reporting command means: a run's version directory, a run name's directory
(its newest version), or a run name under ``--root_dir``. One home, so every verb that takes runs
reads them alike."""

from __future__ import annotations

from pathlib import Path

from seqlab.data.errors import DataError
from seqlab.engine.run_dir import versions
from seqlab.reporting.run_table import RUN_MARKERS


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run's records (config, metrics or status)."""
    return path.is_dir() and any((path / marker).is_file() for marker in RUN_MARKERS)


def resolve_run(word: str, root_dir: Path) -> Path:
    """The run directory ``word`` names: itself if it is one; the newest ``version_N`` of a run name's
    directory (``runs/char_lstm``); else the same for ``<root_dir>/<word>``.

    Raises:
        DataError: one line naming ``word``, where it was looked for and what was expected.
    """
    for candidate in (Path(word), root_dir / word):
        if is_run_dir(candidate):
            return candidate.resolve()
        found = [v for v in versions(candidate.parent, candidate.name) if is_run_dir(v)]
        if found:
            return found[-1].resolve()
    where = f"{word} or {root_dir / word}" if not Path(word).is_absolute() else word
    raise DataError(
        f"{word}: not a run (looked for {where}): expected a run directory holding "
        f"{', '.join(RUN_MARKERS[:-1])} or {RUN_MARKERS[-1]}, a run name's directory of version_N, "
        f"or a run name under --root_dir {root_dir}"
    )
