"""Files that commands write (``seqlab predict|decode|transcribe --output``): never over what is being
read, never over a file the user did not ask to replace, and never half-written.

Checked before any model is loaded, so a bad ``--output`` costs nothing; written to a temporary file
beside the target and renamed over it only when complete, so a failure mid-way (bad input on line
500, a kill) leaves neither a partial output nor a changed earlier file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, TextIO

from seqlab.engine.errors import UserError
from seqlab.engine.run_dir import shown
from seqlab.engine.work_files import probe_create, remove_stale_work, work_path


class OutputError(UserError, ValueError):
    """An ``--output`` that would destroy something: an input, the checkpoint, or an existing file."""


def byte_size(size: float) -> str:
    """``512 B``, ``8.2 kB``, ``2.4 MB``, ``1.3 GB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


class DiskFullError(UserError, OSError):
    """A file that did not fit on its file system (full, or over quota); the earlier file is intact."""

    def __init__(self, target: Path, written: int | None) -> None:
        free = shutil.disk_usage(target.parent).free if target.parent.is_dir() else None
        wrote = f" after {byte_size(written)}" if written else ""
        room = f", {byte_size(free)} free there now" if free is not None else ""
        kept = "the earlier file is as it was" if target.exists() else "nothing was written"
        super().__init__(f"{target}: no space left on its file system{wrote}{room}; {kept}")


def out_of_space(err: BaseException | None) -> bool:
    """Whether ``err`` or an exception it was raised from is ENOSPC or EDQUOT (torch.save reports a
    full disk as a RuntimeError about a zip position, raised while handling the OSError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        err = err.__cause__ or err.__context__
    return False


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (hard links and symbolic links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they lead
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    output: str | None,
    inputs: Iterable[str | os.PathLike[str]] = (),
    checkpoint: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> None:
    """Refuse an ``output`` file that is one of the ``inputs`` (``-``: standard input), the
    ``checkpoint`` being read, a directory, or (unless ``overwrite``) any other existing file.

    Raises:
        OutputError: the message names the ``--output`` and what it would destroy.
    """
    if output is None:
        return
    target = Path(output)
    if checkpoint is not None and _same_file(target, Path(checkpoint)):
        raise OutputError(f"--output {output} is the checkpoint being read; choose another path")
    files = [Path(given) for given in inputs if str(given) != "-"]
    if any(_same_file(target, given) for given in files):
        which = "the input" if len(files) == 1 else "one of the inputs"
        raise OutputError(f"--output {output} is {which} being read; choose another path")
    if target.is_dir():
        raise OutputError(f"--output {output} is a directory; give a file path")
    blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputError(f"--output {output}: {blocker} is a file, not a directory")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputError(f"--output {output} exists; pass --overwrite true to replace it")
    _check_creatable(output, next(p for p in target.absolute().parents if p.exists()))


def _check_creatable(output: str, folder: Path) -> None:
    """Refuse now (not after the model has run) an ``output`` whose nearest existing ``folder`` takes no
    new file: read-only, not ours, or a file system such as /proc."""
    try:
        probe_create(folder)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else type(err).__name__
        raise OutputError(f"--output {output}: cannot create a file in {shown(folder)} ({reason})") from None


def write_output(output: str | None, write: Callable[[TextIO], object]) -> None:
    """Write through ``write(file)`` to ``output`` (atomically, see :func:`write_atomically`), or to
    standard output when it is None."""
    if output is None:
        write(sys.stdout)
        return
    write_atomically(Path(output), write)


def write_atomically(target: Path, write: Callable[[IO[Any]], object], binary: bool = False) -> None:
    """Write through ``write(file)`` so that ``target`` is either its old self or the complete new file,
    whatever happens (a kill, a full disk, an error in ``write``).

    The temporary file sits beside the target (a rename from another file system, e.g. /tmp, is a plain
    copy that a kill can cut short), is named after this process (so that the next write removes the
    one a SIGKILL left, :mod:`seqlab.engine.work_files`), is created with ``O_EXCL`` (never written
    through a file or link that happens to be there) and mode 0o666 less the umask (readable by the
    group as a plain file would be), flushed to disk, then renamed over the target; the rename is made
    durable too.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_work(target)
    partial = work_path(target, ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
    except BaseException as err:
        written = None
        with contextlib.suppress(OSError):
            written = os.stat(partial).st_size
            os.unlink(partial)
        if out_of_space(err):
            raise DiskFullError(target, written) from err
        raise
    with contextlib.suppress(OSError):
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
