"""The one error type of bad input data."""

from __future__ import annotations

import os
from pathlib import Path


class DataError(ValueError):
    """Bad input data: the message names the file (and line or offset) and what was expected."""


def no_such_file(path: str | os.PathLike[str], expected: str) -> DataError:
    """``PATH: no such file (expected ...)``; for a relative path, also where it was looked for: the
    shipped configs name data relative to the repository, and a run started elsewhere misses it."""
    path = Path(path)
    looked = "" if path.is_absolute() else f"; looked in {Path.cwd()}, the working directory"
    return DataError(f"{path}: no such file (expected {expected}{looked})")
