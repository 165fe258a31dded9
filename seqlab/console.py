"""The terminal: plain-text tables (sweep results, local runs, diagnostics), and sending the process's
own output elsewhere for a while (a sweep trial's log, an exporter's noise)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any


@contextlib.contextmanager
def output_into(file: IO[Any]) -> Iterator[None]:
    """Standard output and error as file descriptors 1 and 2 (so that C libraries and child processes
    follow) written into ``file`` while the block runs, then restored."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(file.fileno(), 1)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def format_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], number: str = ".4g") -> str:
    """Columns padded to their widest cell; the first column left-aligned, the others right-aligned;
    floats with ``number``'s format."""
    cells = [
        [str(h) for h in header],
        *[[format(v, number) if isinstance(v, float) else str(v) for v in r] for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        pairs = enumerate(zip(row, widths, strict=True))
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs))
    return "\n".join(lines)
