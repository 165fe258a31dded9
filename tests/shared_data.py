"""Where the real public datasets are: ``../shared/data`` beside the repository (as in CI, where
``shared/`` sits beside the clone). Tests that read them fail, not skip, when the folder is missing,
so a broken checkout of the data is never mistaken for a pass."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """``relative`` (``ner/wnut17train.conll``) under the shared data folder; it must exist."""
    path = SHARED_DATA / relative
    assert path.is_file(), f"{path}: missing; the real datasets are expected in ../shared/data"
    return path
