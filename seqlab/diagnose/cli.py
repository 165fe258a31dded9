"""``seqlab diagnose gradients | grad-history | long-range``: gradient flow made visible.

Each verb prints its numbers and the PNG paths it wrote. The verbs' own options are parsed here with
argparse so that ``gradients`` can pass every other ``--key=value`` on to the experiment config,
exactly as ``seqlab fit`` would take it.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from docstring_parser import parse as parse_docstring
from lightning.pytorch.loggers import WandbLogger

from seqlab.console import format_table
from seqlab.data.streams import StreamWindows
from seqlab.data.text_files import DataError
from seqlab.diagnose import plots
from seqlab.diagnose.gradients import language_model_gradient_norms
from seqlab.diagnose.history import read_grad_history
from seqlab.diagnose.long_range import LongRangeSettings, accuracy_vs_length
from seqlab.engine import run_dir as runs
from seqlab.engine.build import Built, ConfigError, build_from_config, config_of_checkpoint
from seqlab.engine.loggers import WandbSettings, build_loggers, finish_wandb
from seqlab.nn import RecurrentLM
from seqlab.nn.recurrent import CELLS

Table = tuple[list[str], list[list[Any]]]


# ---- argument types ------------------------------------------------------------------------
def _cells(text: str) -> list[str]:
    cells = [c.strip() for c in text.split(",") if c.strip()]
    if not cells or any(c not in CELLS for c in cells):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(CELLS)}, got {text!r}"
        )
    return cells


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _lengths(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


def _parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    # No abbreviations: `--data.seq_len` must reach the config, not be taken for `--seq_len`.
    return argparse.ArgumentParser(
        prog=f"seqlab diagnose {prog}", description=description, epilog=epilog, allow_abbrev=False
    )


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one intra-op thread: the diagnostics are long chains of tiny ops (one time step, one
    small model), which threads do not speed up; on a busy CPU their spin-waits made the char_lstm
    gradient measurement 15x slower (16 s instead of 1.1 s on 2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---- shared output -------------------------------------------------------------------------
def _print_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], number: str = ".3g") -> None:
    print(format_table(header, rows, number))


def log_to_wandb(
    run_dir: Path, name: str, settings: WandbSettings, images: dict[str, Path], tables: dict[str, Table]
) -> None:
    """Log figures and tables to the W&B run of ``run_dir`` (for a checkpoint's directory, the
    training's own W&B run, resumed), through the engine's logger set-up."""
    for logger in build_loggers(run_dir, name, settings):
        if isinstance(logger, WandbLogger):
            for key, path in images.items():
                logger.log_image(key, [str(path)])
            for key, (columns, rows) in tables.items():
                logger.log_table(key, columns, rows)
            finish_wandb([logger])
            where = f"`wandb sync {run_dir}/wandb/offline-run-*`" if settings.mode == "offline" else "online"
            print(f"W&B ({settings.mode}): logged {', '.join(images)}; {where}")


def _csv(path: Path, header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---- gradients -----------------------------------------------------------------------------
def text_batch(datamodule: Any, batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``seq_len`` tokens of ``batch_size`` evenly spaced streams of the validation split,
    and their next tokens: real text, as the model reads it."""
    if not callable(getattr(datamodule, "encoded", None)):
        raise DataError(
            f"{type(datamodule).__name__} is not a language-model DataModule: `diagnose gradients` "
            "reads token streams from LanguageModelData"
        )
    windows = StreamWindows(datamodule.encoded("validation"), batch_size, seq_len, name="validation")
    inputs, targets = windows[0]
    if inputs.size(1) < seq_len:
        raise DataError(
            f"the validation split gives {batch_size} streams of only {inputs.size(1)} tokens; "
            f"lower --batch_size or --seq_len (asked for {seq_len})"
        )
    return inputs, targets


def _language_model(built: Built) -> RecurrentLM:
    model = getattr(built.task, "model", None)
    if not isinstance(model, RecurrentLM):
        raise ConfigError(
            f"{type(built.task).__name__} has no recurrent language model (`.model` is "
            f"{type(model).__name__}); `diagnose gradients` measures seqlab.nn.RecurrentLM"
        )
    return model


def _output_dir(built: Built) -> tuple[Path, str]:
    """The checkpoint's run directory, else a new ``<root_dir>/<run.name>-diagnose/version_N``; and
    the run name that goes with it (W&B names runs ``<name>/version_N``)."""
    run_dir = runs.run_dir_of_checkpoint(built.checkpoint) if built.checkpoint else None
    if run_dir is not None and run_dir.is_dir():
        return run_dir, built.run.name
    name = f"{built.run.name}-diagnose"
    run_dir = runs.new_run_dir(built.run.root_dir, name)
    runs.point_latest(run_dir)
    return run_dir, name


def gradients(argv: list[str]) -> dict[str, torch.Tensor]:
    """``seqlab diagnose gradients``; returns the norms by curve label."""
    parser = _parser(
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
        type=_cells,
        default=[],
        help="also measure untrained models of these cells, e.g. rnn_tanh,gru,lstm",
    )
    parser.add_argument("--seq_len", type=_positive, default=200, help="tokens per sequence (default: 200)")
    parser.add_argument("--batch_size", type=_positive, default=16, help="sequences averaged (default: 16)")
    parser.add_argument(
        "--out",
        type=Path,
        help="output directory (default: the checkpoint's run directory, else a new "
        "<run.root_dir>/<run.name>-diagnose/version_N)",
    )
    args, overrides = parser.parse_known_args(argv)
    config = args.config or (config_of_checkpoint(args.ckpt_path) if args.ckpt_path else None)
    if config is None:
        parser.error("give --config C.yaml (or a --ckpt_path inside a run directory with a config.yaml)")

    built = build_from_config(config, overrides, args.ckpt_path)
    lm = _language_model(built)
    ids, targets = text_batch(built.datamodule, args.batch_size, args.seq_len)
    curves: dict[str, torch.Tensor] = {}
    with _one_thread():
        if built.checkpoint is not None or lm.rnn.cell not in args.compare:
            state = f"trained, {built.checkpoint.name}" if built.checkpoint else "init"
            curves[f"{lm.rnn.cell} ({state})"] = language_model_gradient_norms(lm, ids, targets)
        for cell in args.compare:  # same config and seed, only the cell: what `fit` would start from
            fresh = build_from_config(config, [*overrides, f"--model.init_args.net.cell={cell}"])
            curves[f"{cell} (init)"] = language_model_gradient_norms(_language_model(fresh), ids, targets)

    out, name = (args.out, built.run.name) if args.out else _output_dir(built)
    out.mkdir(parents=True, exist_ok=True)
    stack = lm.rnn
    title = (
        f"{built.run.name}: {stack.num_layers}x{stack.hidden_size}, top layer, float64; "
        f"{args.batch_size} validation sequences x {args.seq_len} tokens\n"
        f"init = untrained (seed {built.seed}); loss = next-token cross-entropy at the last step"
    )
    png = plots.plot_gradient_norms(
        {k: v.tolist() for k, v in curves.items()}, title, out / "gradient_norms.png"
    )
    labels = list(curves)
    rows = [[d, *(float(curves[k][d]) for k in labels)] for d in range(args.seq_len)]
    _csv(out / "gradient_norms.csv", ["distance", *labels], rows)

    shown = sorted({d for d in (0, 1, 10, 50, 100, args.seq_len - 1) if d < args.seq_len})
    print(f"mean ||d loss_T / d h_t|| by distance T-1-t ({args.batch_size} sequences, T={args.seq_len})")
    _print_table(["distance", *shown], [[k, *(float(v[d]) for d in shown)] for k, v in curves.items()])
    print(f"figure: {png}\nnumbers: {out / 'gradient_norms.csv'}")
    table = (["distance", *labels], rows)
    log_to_wandb(
        out,
        name,
        built.run.wandb,
        {"diagnose/gradient_norms": png},
        {"diagnose/gradient_norms_table": table},
    )
    return curves


# ---- grad-history --------------------------------------------------------------------------
def grad_history(argv: list[str]) -> Path:
    """``seqlab diagnose grad-history``; returns the PNG path."""
    parser = _parser(
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
    _print_table(["run", "logged steps", "median", "max", "above clip"], rows)
    print(f"figure: {png}")
    return png


# ---- long-range ----------------------------------------------------------------------------
def long_range(argv: list[str]) -> dict[str, list[float]]:
    """``seqlab diagnose long-range``; returns held-out accuracy by cell, in --lengths order."""
    parser = _parser(
        "long-range",
        "Synthetic long-range task (the label of T random tokens is the first token): held-out "
        "accuracy against T for each cell type: small fresh models per cell, length and seed.",
    )
    parser.add_argument(
        "--cells", type=_cells, default="rnn_tanh,lstm,gru", help="(default: rnn_tanh,lstm,gru)"
    )
    parser.add_argument("--lengths", type=_lengths, default="5,10,20,40", help="(default: 5,10,20,40)")
    parser.add_argument(
        "--steps", type=_positive, default=1500, help="most training steps per model (default: 1500)"
    )
    documented = {p.arg_name: p.description for p in parse_docstring(LongRangeSettings.__doc__ or "").params}
    for f in fields(LongRangeSettings):
        help_text = f"{documented.get(f.name, '')} (default: {f.default})".replace("%", "%%")
        parser.add_argument(f"--{f.name}", type=type(f.default), default=f.default, help=help_text)
    parser.add_argument(
        "--out", type=Path, help="output directory (default: a new <root_dir>/long_range/version_N)"
    )
    parser.add_argument("--root_dir", default="runs", help="where runs live (default: runs)")
    parser.add_argument("--wandb_mode", choices=["offline", "online", "disabled"], default="offline")
    args = parser.parse_args(argv)
    settings = LongRangeSettings(**{f.name: getattr(args, f.name) for f in fields(LongRangeSettings)})

    start = time.perf_counter()

    def progress(cell: str, length: int, seed: int, acc: float) -> None:
        elapsed = time.perf_counter() - start
        print(f"  {cell:<8} T={length:<4} seed {seed}: accuracy {acc:.3f}   ({elapsed:.0f} s)", flush=True)

    with _one_thread():
        table = accuracy_vs_length(args.cells, args.lengths, args.steps, settings, progress)
    out = args.out
    if out is None:
        out = runs.new_run_dir(args.root_dir, "long_range")
        runs.point_latest(out)
    chance = 1 / settings.vocab_size
    title = (
        f"first-token task: vocab {settings.vocab_size}, 1 layer x {settings.hidden_size}, LSTM forget "
        f"bias {settings.forget_bias:g}\nat most {args.steps} Adam steps (lr {settings.lr:g}); "
        f"mean of {settings.repeats} seeds from {settings.seed}"
    )
    png = plots.plot_accuracy_vs_length(table, args.lengths, chance, title, out / "long_range.png")
    rows = [[cell, *accs] for cell, accs in table.items()]
    _csv(out / "long_range.csv", ["cell", *args.lengths], rows)
    print(f"held-out accuracy, mean of {settings.repeats} seeds ({settings.eval_size} sequences each)")
    print(f"chance: {chance:.3f}")
    _print_table(["T", *args.lengths], rows, ".3f")
    print(f"figure: {png}\nnumbers: {out / 'long_range.csv'}")
    wandb = WandbSettings(mode=args.wandb_mode)
    log_to_wandb(
        out,
        "long_range",
        wandb,
        {"diagnose/long_range": png},
        {"diagnose/long_range_table": (["cell", *map(str, args.lengths)], rows)},
    )
    return table


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
