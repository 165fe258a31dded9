"""``seqlab tune``: run a sweep file over an experiment config on Ray Tune, or resume one.

    seqlab tune --config configs/generation/char_lstm.yaml --sweep configs/sweeps/char_lstm_asha.yaml
    seqlab tune --resume runs/sweeps/char_lstm_asha/version_0
    seqlab tune ... --address ray://head:10001     # an existing Ray cluster (or RAY_ADDRESS)
    seqlab tune ... -- --trainer.precision=bf16-mixed   # after --: arguments for every trial's fit

A sweep lives in ``<root_dir>/sweeps/<sweep name>/version_N/``: the sweep file and trial plan it ran
with, Tune's own state (``tune/``), one run directory per trial (``trials/<id>/``, an ordinary
seqlab run), ``results.csv`` and ``best_config.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seqlab.engine.errors import UserError


def tune_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqlab tune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--config", help="the experiment YAML (what `seqlab fit --config` takes)")
    parser.add_argument("--sweep", help="the sweep YAML (configs/sweeps/*.yaml)")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="continue an interrupted sweep")
    parser.add_argument("--address", help="an existing Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--root_dir", default="runs", help="where runs and sweeps live")
    return parser


def tune_main(argv: list[str]) -> list[Any]:
    """``seqlab tune``: read the arguments (nothing heavy imported before they are good), then start
    (or resume) a sweep, run it to the end and report its trials (``tuner.run_sweep``)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = tune_parser()
    args, unknown = parser.parse_known_args(argv[:cut])
    if unknown:
        raise UserError(_unknown_options(parser, unknown, argv[:cut]))
    if not args.resume and (not args.config or not args.sweep):
        raise UserError("seqlab tune needs --config and --sweep (or --resume SWEEP_DIR)")
    from seqlab.tune.tuner import run_sweep

    return run_sweep(args, argv[cut + 1 :])


def _unknown_options(parser: argparse.ArgumentParser, unknown: list[str], argv: list[str]) -> str:
    """One line naming the first word ``parser`` does not take, and the nearest option it does."""
    from seqlab.engine.config_keys import explain

    word = unknown[0]
    if not word.startswith("-"):
        return f"seqlab tune takes no argument {word!r} (arguments for every trial's fit go after --)"
    return explain(ValueError(f"unrecognized arguments: {word}"), parser, argv, "tune")


def main(argv: list[str] | None = None) -> None:
    """``seqlab tune``; a bad sweep file or experiment ends in one ``seqlab: error:`` line, exit 2; a sweep
    whose every trial failed ends in one naming the first error, exit 1."""
    from seqlab.engine.user_errors import exit_on_user_errors
    from seqlab.tune.sweep import SweepError

    with exit_on_user_errors():
        try:
            rows = tune_main(list(sys.argv[1:] if argv is None else argv))
        except SweepError as err:
            print(f"seqlab: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
    from seqlab.tune.results import all_failed

    if (failure := all_failed(rows)) is not None:
        print(f"seqlab: error: {failure}", file=sys.stderr)
        raise SystemExit(1)
