"""The text of ``seqlab fit --help``, kept between runs.

Rendering it imports Lightning, torch and every task (about 7-11 s on two cores, the floor of a
LightningCLI parser), yet the text depends only on what is hashed into the file's name: seqlab's own
files, every installed distribution and its version, the Python version, the terminal width and the
environment variables jsonargparse and Lightning read. A change to any of them names another file,
so a kept text is never stale; a missing or unreadable one is rendered again. The files live in
seqlab's cache (:func:`help_dir`) and are written atomically.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CACHED = (("fit", "--help"), ("fit", "-h"))  # exactly these command lines; any other argument renders
_ENVIRONMENT = ("JSONARGPARSE_", "LIGHTNING_", "PL_", "SEQLAB_", "COLUMNS", "LINES")


def help_dir() -> Path:
    """``help/`` in seqlab's cache: ``$SEQLAB_CACHE`` (as for tokenized corpora), else
    ``$XDG_CACHE_HOME/seqlab``, else ``~/.cache/seqlab``."""
    if os.environ.get("SEQLAB_CACHE"):
        return Path(os.environ["SEQLAB_CACHE"]) / "help"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqlab" / "help"


def help_file(words: tuple[str, ...]) -> Path:
    """Where the text of ``seqlab WORDS`` is kept, named by the hash of everything it depends on."""
    digest = hashlib.sha256(repr((words, sys.version, shutil.get_terminal_size().columns)).encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith(_ENVIRONMENT):
            digest.update(f"{name}={value}\n".encode())
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\n".join(versions).encode())
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"\n{path.relative_to(PACKAGE)}\n".encode())
            digest.update(path.read_bytes())
    return help_dir() / f"{words[0]}-help-{digest.hexdigest()[:32]}.txt"


def kept_help(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def keep_help(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, replacing the older texts of the same command (they can
    never be read again). A cache that cannot be written is not an error: the help was printed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as file:
            file.write(text)
        os.replace(file.name, path)
        for old in path.parent.glob(f"{path.name.split('-help-')[0]}-help-*.txt"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass
