"""Plain-text tables for the terminal (sweep results, local runs, diagnostics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
