"""``seqlab diagnose long-range``: held-out accuracy against sequence length on a synthetic long-range
task (the label of T random tokens is the first token), for each cell type."""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from pathlib import Path

from seqlab.diagnose import plots
from seqlab.diagnose import verb_common as common
from seqlab.diagnose.long_range import accuracy_vs_length
from seqlab.diagnose.options import LongRangeSettings
from seqlab.engine import run_dir as runs
from seqlab.engine.loggers import WandbSettings
from seqlab.nn.threads import one_thread


def _report(
    table: dict[str, list[float]], args: argparse.Namespace, settings: LongRangeSettings, out: Path
) -> None:
    """The figure and CSV in ``out``, the table on the console, and both to W&B."""
    chance = 1 / settings.vocab_size
    title = (
        f"first-token task: vocab {settings.vocab_size}, 1 layer x {settings.hidden_size}, LSTM forget "
        f"bias {settings.forget_bias:g}\nat most {args.steps} Adam steps (lr {settings.lr:g}); "
        f"mean of {settings.repeats} seeds from {settings.seed}"
    )
    png = plots.plot_accuracy_vs_length(table, args.lengths, chance, title, out / "long_range.png")
    rows = [[cell, *accs] for cell, accs in table.items()]
    common.write_csv(out / "long_range.csv", ["cell", *args.lengths], rows)
    print(f"held-out accuracy, mean of {settings.repeats} seeds ({settings.eval_size} sequences each)")
    print(f"chance: {chance:.3f}")
    common.print_table(["T", *args.lengths], rows, ".3f")
    print(f"figure: {png}\nnumbers: {out / 'long_range.csv'}")
    common.log_to_wandb(
        out,
        "long_range",
        WandbSettings(mode=args.wandb_mode),
        {"diagnose/long_range": png},
        {"diagnose/long_range_table": (["cell", *map(str, args.lengths)], rows)},
    )


def long_range(args: argparse.Namespace, overrides: list[str]) -> dict[str, list[float]]:
    """``seqlab diagnose long-range`` (options from ``options.long_range_parser``; no ``overrides``);
    returns held-out accuracy by cell, in --lengths order."""
    settings = LongRangeSettings(**{f.name: getattr(args, f.name) for f in fields(LongRangeSettings)})
    start = time.perf_counter()

    def progress(cell: str, length: int, seed: int, acc: float) -> None:
        elapsed = time.perf_counter() - start
        print(f"  {cell:<8} T={length:<4} seed {seed}: accuracy {acc:.3f}   ({elapsed:.0f} s)", flush=True)

    with one_thread():
        table = accuracy_vs_length(args.cells, args.lengths, args.steps, settings, progress)
    out = args.out
    if out is None:
        out = runs.new_run_dir(args.root_dir, "long_range")
        runs.point_latest(out)
    _report(table, args, settings, out)
    return table
