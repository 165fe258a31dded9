"""Hidden work files and folders beside a target (``.NAME.HOST.PID.TOKEN``), written in full and then
renamed over it, and the clean-up of the ones a killed process left behind.

A process stopped by SIGKILL (the out-of-memory killer, ``scancel --signal=KILL``, a node going down)
cannot remove its own work file. The name says which process wrote it, so the next writer of the same
target removes the work files of processes that no longer run on this host, and never one that
still runs (two exports into one folder at once) or one written from another host of a shared file
system (its process cannot be checked from here).

A folder replaced by two renames (the earlier one set aside as ``.NAME.HOST.PID.TOKEN.old``, then the
new one renamed in) leaves the earlier one aside when killed between them: where the target is then
missing, the clean-up renames it back instead of removing it, so a kill never loses both.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

_WORK = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}(?P<suffix>\.partial|\.old)?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def work_path(target: Path, suffix: str = "") -> Path:
    """A fresh hidden name beside ``target`` that records this host and process."""
    return target.with_name(f".{target.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def probe_create(directory: Path) -> None:
    """Create and remove a hidden file in ``directory``; the ``OSError`` if it cannot be done. Permission
    bits alone say nothing to root, on read-only mounts or on file systems such as /proc."""
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".seqlab-write-check-")
    os.close(fd)
    os.unlink(probe)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_work(target: Path) -> list[Path]:
    """Remove the work files and folders beside ``target`` left by processes of this host that have
    ended, or put back an earlier target they had set aside (``.old``) where ``target`` is missing;
    returns what was removed or put back."""
    removed = []
    host = _host()
    prefix = f".{target.name}."
    with contextlib.suppress(OSError):
        for path in target.parent.iterdir():
            if not path.name.startswith(prefix):
                continue
            found = _WORK.fullmatch(path.name[len(prefix) - 1 :])
            if found is None or found["host"] != host or _running(int(found["pid"])):
                continue
            if found["suffix"] == ".old" and not target.exists() and not target.is_symlink():
                with contextlib.suppress(OSError):
                    os.replace(path, target)
                    removed.append(path)
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(path)
    return removed
