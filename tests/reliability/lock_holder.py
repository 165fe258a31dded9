"""A helper process that holds a run directory's ``.fit.lock`` as a fit (exclusive, naming itself)
or as ``seqlab runs`` looking at it (shared), for tests of fits, probes and their races."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_HOLD = """
import fcntl, os, socket, sys, time
path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
handle = open(path, "a+")
fcntl.flock(handle, fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH)
if mode == "exclusive":
    handle.seek(0); handle.truncate()
    handle.write(f"{os.getpid()} {socket.gethostname()}\\n"); handle.flush()
print("held", flush=True)
time.sleep(seconds)
"""


@contextlib.contextmanager
def holding_lock(
    lock_file: Path, mode: str = "exclusive", seconds: float = 600
) -> Iterator[subprocess.Popen]:
    """Run a process that takes ``lock_file`` (``exclusive`` or ``shared``) and keeps it ``seconds``;
    yields once it holds it, kills it on the way out."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(lock_file), mode, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()
