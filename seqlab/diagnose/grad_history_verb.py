"""``seqlab diagnose grad-history``: the logged gradient norm of one or more runs against step."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.diagnose import plots
from seqlab.diagnose.history import read_grad_history
from seqlab.diagnose.verb_common import print_table


def grad_history(args: argparse.Namespace, overrides: list[str]) -> Path:
    """``seqlab diagnose grad-history`` (options from ``options.grad_history_parser``; no
    ``overrides``); returns the PNG path."""
    histories = [read_grad_history(run_dir) for run_dir in args.run_dirs]
    png = plots.plot_grad_history(histories, args.out or args.run_dirs[0] / "grad_history.png")
    rows = []
    for h in histories:
        above = f"{sum(n > h.clip for n in h.norms) / len(h.norms):.0%}" if h.clip is not None else "-"
        rows.append([h.label, len(h.norms), sorted(h.norms)[len(h.norms) // 2], max(h.norms), above])
    print_table(["run", "logged steps", "median", "max", "above clip"], rows)
    print(f"figure: {png}")
    return png
