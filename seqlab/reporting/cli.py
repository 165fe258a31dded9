"""``seqlab runs [--root_dir runs] [--csv F]`` and ``seqlab report RUN_DIR [RUN_DIR ...] [--output DIR]``."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from seqlab.console import format_table
from seqlab.data.errors import DataError
from seqlab.reporting.run_table import list_runs


def runs_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="seqlab runs", description="List local runs.")
    parser.add_argument("--root_dir", default="runs", help="where runs live")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV here")
    args = parser.parse_args(argv)
    root = Path(args.root_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such runs directory")
    rows = list_runs(root)
    header = ["run", "task", "state", "step", "best", "updated", "path"]
    cells = [
        [r.name, r.task, r.state, r.step if r.step is not None else "", r.best, r.updated, r.path]
        for r in rows
    ]
    print(format_table(header, cells) if rows else f"no runs under {root}")
    if args.csv:
        with args.csv.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows([header, *cells])


def report_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="seqlab report", description="PNG learning curves of runs, from their metrics.csv."
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run directories (several: overlaid)")
    parser.add_argument("--output", type=Path, help="default: <first run dir>/report")
    args = parser.parse_args(argv)
    from seqlab.reporting.learning_curves import write_report  # matplotlib: after the arguments are read

    output = args.output or args.run_dirs[0] / "report"
    for path in write_report([d.resolve() for d in args.run_dirs], output):
        print(path)
