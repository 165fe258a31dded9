"""``seqlab diagnose gradients | grad-history | long-range``: gradient flow made visible.

Each verb prints its numbers and the PNG paths it wrote; ``gradients`` and ``long-range`` have a module
each (``gradients_verb``, ``long_range_verb``), what they share is in ``verb_common``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqlab.diagnose import plots
from seqlab.diagnose.gradients_verb import gradients
from seqlab.diagnose.history import read_grad_history
from seqlab.diagnose.long_range_verb import long_range
from seqlab.diagnose.verb_common import print_table, verb_parser
from seqlab.engine.build import ConfigError


def grad_history(argv: list[str]) -> Path:
    """``seqlab diagnose grad-history``; returns the PNG path."""
    parser = verb_parser(
        "grad-history",
        "train/grad_norm (the global gradient norm before clipping) against step, for one or more "
        "runs, e.g. the same config fitted with and without --model.gradient_clip_norm.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, help="PNG path (default: <first RUN_DIR>/grad_history.png)")
    args = parser.parse_args(argv)
    histories = [read_grad_history(run_dir) for run_dir in args.run_dirs]
    png = plots.plot_grad_history(histories, args.out or args.run_dirs[0] / "grad_history.png")
    rows = []
    for h in histories:
        above = f"{sum(n > h.clip for n in h.norms) / len(h.norms):.0%}" if h.clip is not None else "-"
        rows.append([h.label, len(h.norms), sorted(h.norms)[len(h.norms) // 2], max(h.norms), above])
    print_table(["run", "logged steps", "median", "max", "above clip"], rows)
    print(f"figure: {png}")
    return png


VERBS: dict[str, Callable[[list[str]], Any]] = {
    "gradients": gradients,
    "grad-history": grad_history,
    "long-range": long_range,
}


def diagnose_main(argv: list[str]) -> None:
    """Dispatch ``seqlab diagnose VERB ...``."""
    if not argv or argv[0] not in VERBS:
        usage = f"usage: seqlab diagnose {{{','.join(VERBS)}}} [-h] ..."
        if argv and argv[0] in ("-h", "--help"):
            print(usage)
            return
        raise SystemExit(f"{usage}\nseqlab diagnose: expected one of {', '.join(VERBS)}")
    try:
        VERBS[argv[0]](argv[1:])
    except ConfigError as err:
        raise SystemExit(f"seqlab diagnose {argv[0]}: error: {err}") from None
