"""One fit at a time in a run directory: rank 0 holds an advisory lock (``flock``) on
``<run>/.fit.lock`` from the moment it chooses the directory until the command ends.

The kernel drops the lock when the process ends, however it ends (SIGKILL, the OOM killer), so unlike
the pid recorded in ``status.json`` it cannot outlive the fit, nor be mistaken for another program
that got the same process number. It is taken before anything is written, so two fits started at
the same moment cannot both pass. The lock file names its holder (pid and host) for the message.

``seqlab runs`` and the dashboard ask the lock too (:func:`held`): a fit killed with SIGKILL leaves
``running`` in ``status.json``, and its pid may since belong to another live program.

A lock held from another host is not obeyed: on a network file system a dead node's lock can
outlive it, and a requeued cluster job must be able to take over. Where the file system has no
locks, ``run_records`` falls back on the recorded pid.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # not POSIX: no locks, the pid check alone
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".fit.lock"
# How long a fit keeps trying a lock that is held: `held` takes it (shared) for an instant to look.
_TAKE_TRIES, _TAKE_PAUSE_S = 20, 0.05


class FitLock:
    """The lock this process holds, if any; :meth:`release` at the end of the command."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None

    def take(self, run_dir: Path) -> bool | None:
        """``True``: taken; ``False``: a fit on this host holds it; ``None``: not taken, because the
        file system has no locks or the holder is on another host (see the module)."""
        if fcntl is None:
            return None
        try:
            handle = open(run_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 (held open)
        except OSError:
            return None
        for attempt in range(_TAKE_TRIES):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 < _TAKE_TRIES:
                    time.sleep(_TAKE_PAUSE_S)
                    continue
                handle.close()
                return False if holder_host(run_dir) in (socket.gethostname(), None) else None
            except OSError:
                handle.close()
                return None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        self.release()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


def holder(run_dir: Path) -> tuple[str, str] | None:
    """``(pid, host)`` written by the fit that took the lock last, or ``None``."""
    try:
        fields = (run_dir / LOCK_FILE).read_text(encoding="utf-8").split()
    except OSError:
        return None
    return (fields[0], fields[1]) if len(fields) == 2 else None


def holder_host(run_dir: Path) -> str | None:
    found = holder(run_dir)
    return found[1] if found else None


def held(run_dir: Path, pid: object) -> bool | None:
    """Whether the fit with process id ``pid`` still holds the run directory's lock; ``None`` where
    the lock cannot tell: no lock file naming that pid on this host (a run from before locks, or
    from a file system without them) or no locks here. Looks by taking the lock shared for an
    instant, never blocking; a fit starting in that instant waits for it (see ``FitLock.take``)."""
    if fcntl is None or holder(run_dir) != (str(pid), socket.gethostname()):
        return None
    try:
        with open(run_dir / LOCK_FILE, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return None
