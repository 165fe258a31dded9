"""One section of the GPU check in a process of its own: ``python -m gpu_check.child NAME CTX ROWS``.

The orchestrator (benchmarks/gpu_check.py) starts one per section and kills it at its time budget;
an exception that escapes a section becomes one FAIL row here, so a section never ends in silence.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from gpu_check.common import Context, Emitter, one_line


def sections() -> dict[str, Callable[[Context, Emitter], None]]:
    """Section name -> runner; imported lazily so that a broken section cannot break the others."""
    from gpu_check import env, fits, inference, numerics, speed

    return {
        "env": env.run,
        "fits": fits.run,
        "cli": inference.run,
        "cudnn": numerics.run,
        "tbptt": speed.run_tbptt,
        "scan": speed.run_scan,
    }


def main(argv: list[str]) -> int:
    name, ctx_path, rows_path = argv
    emit = Emitter(Path(rows_path), name)
    start = time.perf_counter()
    try:
        sections()[name](Context.load(Path(ctx_path)), emit)
    except Exception as err:
        emit.row("(section)", "FAIL", one_line(err), time.perf_counter() - start)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
