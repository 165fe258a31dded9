"""``seqlab dashboard RUN [RUN ...] [--output FILE.html] [--root_dir runs] [--overwrite]``: one
self-contained HTML page of one or more runs, for clusters without a W&B server (``wandb sync`` of a
run's offline records still leads to W&B's own dashboards).

A verb of its own rather than ``seqlab report --html``: ``report`` writes a directory of PNG files,
this writes one file that is safe to mail or copy off a cluster, with its own rule for what it may
replace (only an earlier dashboard, unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path

from seqlab.engine.outputs import OutputError, check_output, write_atomically
from seqlab.reporting.dashboard_html import is_dashboard, render
from seqlab.reporting.run_paths import resolve_run
from seqlab.reporting.run_view import RunView, read_run

DEFAULT_OUTPUT = "dashboard.html"


def _flag(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def curve_pngs(runs: Sequence[RunView]) -> dict[str, bytes]:
    """The learning curves of ``seqlab report`` (all runs overlaid), as PNG bytes per panel title; runs
    whose metrics could not be read are left out (the page notes why)."""
    from seqlab.reporting.learning_curves import report_figures  # matplotlib: only when drawing

    readable = [run.path for run in runs if run.metrics]
    pngs = {}
    for title, figure in report_figures(readable).items() if readable else ():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        pngs[title] = buffer.getvalue()
    return pngs


def write_dashboard(run_dirs: Sequence[Path], output: Path) -> Path:
    """Read the runs, draw their curves and write the page to ``output`` atomically."""
    from seqlab.reporting.learning_curves import run_labels

    labels = run_labels(run_dirs)
    runs = [read_run(run_dir, labels[run_dir]) for run_dir in run_dirs]
    page = render(runs, curve_pngs(runs), output.resolve().parent)
    write_atomically(output, lambda file: file.write(page))
    return output


def dashboard_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="seqlab dashboard",
        description="One self-contained HTML page of runs: status, config differences, final and best "
        "metrics, learning curves, latest samples and figures, checkpoints.",
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="a run directory (runs/char_lstm/version_3), a run name's "
        "directory (its newest version) or a run name under --root_dir",
    )  # fmt: skip
    parser.add_argument("--root_dir", type=Path, default=Path("runs"), help="where run names are looked up")
    parser.add_argument(
        "--output", type=Path, default=Path(DEFAULT_OUTPUT), help=f"default: ./{DEFAULT_OUTPUT}"
    )
    parser.add_argument(
        "--overwrite", type=_flag, nargs="?", const=True, default=False,
        help="replace a file that is not a seqlab dashboard (an earlier dashboard is always replaced)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    run_dirs = list(dict.fromkeys(resolve_run(word, args.root_dir) for word in args.runs))
    output = args.output
    if output.is_file() and not args.overwrite and not is_dashboard(output):
        raise OutputError(
            f"--output {output} exists and is not a seqlab dashboard; pass --overwrite true to replace it"
        )
    records = [d / name for d in run_dirs for name in ("metrics.csv", "config.yaml", "status.json")]
    check_output(str(output), inputs=records, overwrite=True)
    print(write_dashboard(run_dirs, output))
