"""The command lines of ``seqlab diagnose gradients | grad-history | long-range``, without torch: each
verb's options are parsed (``--help`` and a bad option answered) before its module is imported.

Parsed with argparse so that ``gradients`` can pass every other ``--key=value`` on to the experiment
config, exactly as ``seqlab fit`` would take it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from docstring_parser import parse as parse_docstring


def cell_list(text: str) -> list[str]:
    """``rnn_tanh,gru``: cell names of ``seqlab.nn.recurrent`` (imported only when a list is given)."""
    from seqlab.nn.recurrent import CELLS

    cells = [c.strip() for c in text.split(",") if c.strip()]
    if not cells or any(c not in CELLS for c in cells):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(CELLS)}, got {text!r}"
        )
    return cells


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def length_list(text: str) -> list[int]:
    return [positive(part) for part in text.split(",") if part.strip()]


def verb_parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    # No abbreviations: `--data.seq_len` must reach the config, not be taken for `--seq_len`.
    return argparse.ArgumentParser(
        prog=f"seqlab diagnose {prog}", description=description, epilog=epilog, allow_abbrev=False
    )


@dataclass
class LongRangeSettings:
    """Size and training of the synthetic runs (small enough for a 2-core CPU).

    Args:
        vocab_size: token and label count; chance accuracy is ``1 / vocab_size``.
        hidden_size: recurrent state width.
        embedding_size: token embedding width.
        batch_size: sequences per training step.
        lr: Adam learning rate (at 3e-3 LSTMs at T=40 stayed at uniform predictions in our runs).
        clip_norm: gradient-norm clipping (vanilla RNNs need it).
        forget_bias: LSTM forget-gate bias at initialisation. seqlab's default, 1.0, is kept; with it
            an LSTM learned T=40 for about half of the seeds we tried, with 2.0 for all (up to T=80).
        eval_size: held-out sequences (drawn from a separate generator).
        seed: the first run's seed (model initialisation, training data and held-out set).
        repeats: independent runs (seeds ``seed .. seed+repeats-1``) averaged per cell and length:
            near the edge of a cell's reach, whether it learns is a matter of luck.
        solved_loss: stop early once the mean training loss of the last 50 steps is below this.
    """

    vocab_size: int = 8
    hidden_size: int = 64
    embedding_size: int = 16
    batch_size: int = 64
    lr: float = 1e-3
    clip_norm: float = 1.0
    forget_bias: float = 1.0
    eval_size: int = 1000
    seed: int = 0
    repeats: int = 3
    solved_loss: float = 0.01


def add_output(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--output PATH`` (``--out`` too), named as ``seqlab report`` and ``dashboard`` name theirs."""
    parser.add_argument("--output", "--out", dest="out", metavar="PATH", type=Path, help=help_text)


def gradients_parser() -> argparse.ArgumentParser:
    parser = verb_parser(
        "gradients",
        "Norm of the gradient of the loss at the last step with respect to each earlier hidden state "
        "(top layer), against the distance in steps, on validation text.",
        "Any other --key=value overrides the experiment config, as for `seqlab fit`.",
    )
    parser.add_argument("--config", help="experiment YAML (default: the checkpoint's run config.yaml)")
    parser.add_argument(
        "--ckpt_path", help="checkpoint file or run directory whose trained weights to measure"
    )
    parser.add_argument(
        "--compare",
        type=cell_list,
        default=[],
        help="also measure untrained models of these cells, e.g. rnn_tanh,gru,lstm",
    )
    parser.add_argument("--seq_len", type=positive, default=200, help="tokens per sequence (default: 200)")
    parser.add_argument("--batch_size", type=positive, default=16, help="sequences averaged (default: 16)")
    add_output(
        parser,
        "output directory (default: the checkpoint's run directory, else a new "
        "<run.root_dir>/<run.name>-diagnose/version_N)",
    )
    return parser


def long_range_parser() -> argparse.ArgumentParser:
    """The verb's options; every ``LongRangeSettings`` field is one, documented by its docstring."""
    parser = verb_parser(
        "long-range",
        "Synthetic long-range task (the label of T random tokens is the first token): held-out "
        "accuracy against T for each cell type: small fresh models per cell, length and seed.",
    )
    parser.add_argument(
        "--cells", type=cell_list, default=["rnn_tanh", "lstm", "gru"], help="(default: rnn_tanh,lstm,gru)"
    )
    parser.add_argument("--lengths", type=length_list, default=[5, 10, 20, 40], help="(default: 5,10,20,40)")
    parser.add_argument(
        "--steps", type=positive, default=1500, help="most training steps per model (default: 1500)"
    )
    documented = {p.arg_name: p.description for p in parse_docstring(LongRangeSettings.__doc__ or "").params}
    for f in fields(LongRangeSettings):
        help_text = f"{documented.get(f.name, '')} (default: {f.default})".replace("%", "%%")
        parser.add_argument(f"--{f.name}", type=type(f.default), default=f.default, help=help_text)
    add_output(parser, "output directory (default: a new <root_dir>/long_range/version_N)")
    parser.add_argument("--root_dir", default="runs", help="where runs live (default: runs)")
    parser.add_argument("--wandb_mode", choices=["offline", "online", "disabled"], default="offline")
    return parser


def grad_history_parser() -> argparse.ArgumentParser:
    parser = verb_parser(
        "grad-history",
        "train/grad_norm (the global gradient norm before clipping) against step, for one or more "
        "runs, e.g. the same config fitted with and without --model.gradient_clip_norm.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    add_output(parser, "PNG path (default: <first RUN_DIR>/grad_history.png)")
    return parser
