"""``seqlab diagnose gradients``: the norm of the gradient of the loss at the last step with respect to
each earlier hidden state, against the distance in steps, for a trained (or fresh) language model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.streams import StreamWindows
from seqlab.diagnose import plots
from seqlab.diagnose.gradients import language_model_gradient_norms
from seqlab.diagnose.options import gradients_parser
from seqlab.diagnose.verb_common import log_to_wandb, print_table, write_csv
from seqlab.engine import run_dir as runs
from seqlab.engine.build import Built, ConfigError, build_from_config, config_of_checkpoint
from seqlab.engine.checkpoints import read_checkpoint
from seqlab.nn import RecurrentLM
from seqlab.nn.threads import one_thread


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


def _curves(
    built: Built,
    config: str,
    overrides: list[str],
    compare: list[str],
    batch: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """The norms of the built model (unless it is an untrained model of a compared cell) and of an
    untrained model of each cell in ``compare``, by curve label."""
    lm, (ids, targets) = _language_model(built), batch
    curves: dict[str, torch.Tensor] = {}
    with one_thread():
        if built.checkpoint is not None or lm.rnn.cell not in compare:
            state = f"trained, {built.checkpoint.name}" if built.checkpoint else "init"
            curves[f"{lm.rnn.cell} ({state})"] = language_model_gradient_norms(lm, ids, targets)
        for cell in compare:  # same config and seed, only the cell: what `fit` would start from
            fresh = build_from_config(config, [*overrides, f"--model.init_args.net.cell={cell}"])
            curves[f"{cell} (init)"] = language_model_gradient_norms(_language_model(fresh), ids, targets)
    return curves


def measured(built: Built, compare: list[str]) -> str:
    """What the curves measure: the checkpoint's trained weights (file and step) and/or untrained
    models (with the seed they were initialised from)."""
    cell = _language_model(built).rnn.cell
    seed = f"seed {built.seed}" if built.seed is not None else "not seeded"
    parts = []
    if built.checkpoint is not None:
        step = read_checkpoint(built.checkpoint).get("global_step", "?")
        parts.append(f"{cell} trained ({built.checkpoint.name}, step {step})")
    untrained = list(compare)
    if built.checkpoint is None and cell not in compare:
        untrained.insert(0, cell)
    if untrained:
        parts.append(f"{', '.join(untrained)} untrained (init, {seed})")
    return "measured: " + "; ".join(parts)


def _report(curves: dict[str, torch.Tensor], built: Built, args: Any, out: Path, name: str) -> None:
    """The figure and CSV in ``out``, a table of a few distances on the console, and both to W&B."""
    stack = _language_model(built).rnn
    what = measured(built, args.compare)
    title = (
        f"{built.run.name}: {stack.num_layers}x{stack.hidden_size}, top layer, float64; "
        f"{args.batch_size} validation sequences x {args.seq_len} tokens\n"
        f"{what}; loss = next-token cross-entropy at the last step"
    )
    print(what)
    png = plots.plot_gradient_norms(
        {k: v.tolist() for k, v in curves.items()}, title, out / "gradient_norms.png"
    )
    labels = list(curves)
    rows = [[d, *(float(curves[k][d]) for k in labels)] for d in range(args.seq_len)]
    write_csv(out / "gradient_norms.csv", ["distance", *labels], rows)

    shown = sorted({d for d in (0, 1, 10, 50, 100, args.seq_len - 1) if d < args.seq_len})
    print(f"mean ||d loss_T / d h_t|| by distance T-1-t ({args.batch_size} sequences, T={args.seq_len})")
    print_table(["distance", *shown], [[k, *(float(v[d]) for d in shown)] for k, v in curves.items()])
    print(f"figure: {png}\nnumbers: {out / 'gradient_norms.csv'}")
    table = (["distance", *labels], rows)
    log_to_wandb(
        out,
        name,
        built.run.wandb,
        {"diagnose/gradient_norms": png},
        {"diagnose/gradient_norms_table": table},
    )


def gradients(args: argparse.Namespace, overrides: list[str]) -> dict[str, torch.Tensor]:
    """``seqlab diagnose gradients`` (options from ``options.gradients_parser``, ``overrides`` for the
    experiment config); returns the norms by curve label."""
    config = args.config or (config_of_checkpoint(args.ckpt_path) if args.ckpt_path else None)
    if config is None:
        gradients_parser().error(
            "give --config C.yaml (or a --ckpt_path inside a run directory with a config.yaml)"
        )
    built = build_from_config(config, overrides, args.ckpt_path)
    _language_model(built)  # before reading text: the clearer error first
    batch = text_batch(built.datamodule, args.batch_size, args.seq_len)
    curves = _curves(built, config, overrides, args.compare, batch)
    out, name = (args.out, built.run.name) if args.out else _output_dir(built)
    out.mkdir(parents=True, exist_ok=True)
    _report(curves, built, args, out, name)
    return curves
