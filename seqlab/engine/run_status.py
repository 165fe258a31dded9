"""A run's ``status.json``: what ``seqlab runs`` lists without reading checkpoints or logs.

Rank 0 of ``seqlab fit`` writes it when training starts (``running``, with its process id) and when
it ends: ``finished``, ``stopped`` (a stop signal; ``last.ckpt`` was saved) or ``failed`` (with the
error). A run whose status still says ``running`` but whose process is gone was killed (``died``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from seqlab.engine.fit_lock import held
from seqlab.engine.run_dir import writing

STATUS_FILE = "status.json"


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's recorded status (``{}`` for runs from before status files, or unreadable ones)."""
    try:
        return json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_status(run_dir: Path, state: str, **fields: Any) -> None:
    """Merge ``fields`` into the status file and set its state, atomically (temp file, rename)."""
    status = read_status(run_dir)
    status.update(fields, state=state, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if state == "running":
        status.update(pid=os.getpid(), host=socket.gethostname())
        status.pop("error", None)
    tmp = run_dir / f".{STATUS_FILE}.{os.getpid()}.tmp"
    with writing(run_dir, f"writing {STATUS_FILE}"):
        tmp.write_text(json.dumps(status, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, run_dir / STATUS_FILE)


def current_state(status: dict[str, Any], run_dir: Path | None = None) -> str:
    """``running`` only while the recorded fit lives on this host: while it holds ``run_dir``'s lock
    (see engine.fit_lock), or where the lock cannot tell, while its process id is alive and a Python
    program's. ``died`` otherwise (a SIGKILL, the OOM killer)."""
    state = status.get("state", "unknown")
    if state != "running" or status.get("host") != socket.gethostname():
        return state
    locked = held(run_dir, status.get("pid")) if run_dir is not None else None
    if locked is not None:
        return "running" if locked else "died"
    try:
        os.kill(int(status["pid"]), 0)
    except ProcessLookupError:
        return "died"
    except (PermissionError, KeyError, ValueError):
        return state
    try:
        command = Path(f"/proc/{int(status['pid'])}/cmdline").read_bytes()
    except OSError:  # no /proc here: trust the live process id
        return state
    return state if b"python" in command or b"seqlab" in command else "died"
