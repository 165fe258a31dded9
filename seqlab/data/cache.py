"""Where seqlab caches what it computes from data, and what happens to a cache file it cannot read."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def default_cache_dir() -> str:
    """Where tokenizers and encoded corpora are cached (``$SEQLAB_CACHE`` or ``~/.cache/seqlab``)."""
    return os.environ.get("SEQLAB_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "seqlab"))


def read_or_rebuild(path: Path, read: Callable[[], T], damage: tuple[type[BaseException], ...]) -> T:
    """``read()`` of a cache file, which builds the file when it is missing. If a file that was there
    fails to read with one of ``damage`` (cut short by a full disk or a copy, flipped bytes), it is
    removed and ``read()`` runs once more, building it again. A cache holds nothing that cannot be
    computed again from the data, so a damaged one costs the time to rebuild it, never the run; a
    failure while building is not damage and is raised as it is."""
    if not path.is_file():
        return read()
    try:
        return read()
    except damage as err:
        from lightning.pytorch.utilities import rank_zero_warn  # only now: tokenizers import this module

        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        rank_zero_warn(f"{path}: cache file unreadable ({first}); removed and built again")
        path.unlink(missing_ok=True)
        return read()
