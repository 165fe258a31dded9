"""Build a run's task and DataModule from an experiment YAML without training.

Diagnostics (and later sweeps) need the model and data exactly as ``seqlab fit`` would build them:
the same parser sections, the same ``data.vocab_size -> model`` link, the same seed. Keys that only
matter to a Trainer are parsed and checked (so a typo still fails) but nothing is instantiated
for them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import ActionConfigFile, ArgumentError, Namespace
from lightning.pytorch.cli import LightningArgumentParser

from seqlab.engine.checkpoints import read_checkpoint, recorded_data_state
from seqlab.engine.compatibility import DATA_LINKS, check_fits, check_task
from seqlab.engine.config_files import config_file_problem
from seqlab.engine.config_keys import explain, explain_setting
from seqlab.engine.run_dir import RunSettings, resolve_checkpoint, run_dir_of_checkpoint
from seqlab.engine.task_data import hand_data

# Top-level keys that `seqlab fit` writes into a run's config.yaml but that building does not use.
_FIT_ONLY_KEYS = ("optimizer", "lr_scheduler", "ckpt_path", "weights_only")


class ConfigError(ValueError):
    """An experiment config that does not parse; the message names the file and the bad key."""


@dataclass
class Built:
    """What an experiment config builds, untrained unless weights were loaded.

    Attributes:
        task: the LightningModule (``model`` section).
        datamodule: the LightningDataModule (``data`` section).
        run: the ``run`` section (name, root_dir, W&B settings).
        config: the parsed, uninstantiated config (trainer settings, seed, ...).
        seed: the seed applied before instantiation (``None``: not seeded).
        checkpoint: the checkpoint whose weights were loaded, if any.
    """

    task: L.LightningModule
    datamodule: L.LightningDataModule
    run: RunSettings
    config: Namespace
    seed: int | None
    checkpoint: Path | None = None


def add_seqlab_arguments(parser: LightningArgumentParser) -> None:
    """The sections seqlab adds to Lightning's (shared by the training CLI and by building)."""
    parser.add_class_arguments(RunSettings, "run")
    for key in DATA_LINKS:
        parser.link_arguments(f"data.{key}", f"model.init_args.{key}", apply_on="instantiate")


def experiment_parser() -> LightningArgumentParser:
    """A parser for ``seqlab fit``-style YAMLs: model, data, run, plus trainer and seed (checked only)."""
    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="experiment YAML")
    parser.add_argument("--seed_everything", type=bool | int, default=True)
    parser.add_lightning_class_args(L.Trainer, "trainer")  # not instantiated (Lightning's own rule)
    parser.add_lightning_class_args(L.LightningModule, "model", subclass_mode=True)
    parser.add_lightning_class_args(L.LightningDataModule, "data", subclass_mode=True)
    add_seqlab_arguments(parser)
    for key in _FIT_ONLY_KEYS:
        parser.add_argument(f"--{key}", type=Any, default=None)
    return parser


def config_of_checkpoint(ckpt_path: str | os.PathLike[str]) -> Path | None:
    """The ``config.yaml`` that ``seqlab fit`` saved beside a checkpoint's run, if there is one."""
    run_dir = run_dir_of_checkpoint(resolve_checkpoint(ckpt_path))
    config = run_dir / "config.yaml" if run_dir else None
    return config if config and config.is_file() else None


def build_from_config(
    config_path: str | os.PathLike[str] | None,
    overrides: Sequence[str] = (),
    ckpt_path: str | os.PathLike[str] | None = None,
) -> Built:
    """Parse ``config_path`` plus command-line style ``overrides`` (``--model.net.hidden_size=32``), seed
    as ``seed_everything`` says, instantiate task and data, and load ``ckpt_path``'s weights if given.

    Raises:
        ConfigError: the config or an override does not parse.
        FileNotFoundError: the config or checkpoint does not exist.
    """
    if config_path is not None and not Path(config_path).is_file():
        raise FileNotFoundError(f"{config_path}: no such config file")
    if config_path is not None and (problem := config_file_problem(config_path)) is not None:
        raise ConfigError(problem)  # names the file and line, where jsonargparse says "<unicode string>"
    args = [*(["--config", str(config_path)] if config_path else []), *overrides]
    parser = experiment_parser()
    try:
        config = parser.parse_args(args)
    except ArgumentError as err:
        raise ConfigError(explain(err, parser, args)) from None  # the key, and the nearest valid one
    seed = _seed(config.seed_everything)
    try:
        init = parser.instantiate_classes(config)
    except Exception as err:
        message = explain_setting(err, args)
        if message is None:
            raise
        raise ConfigError(message) from None
    built = Built(init.model, init.data, init.run, config, seed)
    hand_data(built.task, built.datamodule)
    if ckpt_path is not None:
        built.checkpoint = load_weights(built, ckpt_path)
    return built


def load_weights(built: Built, ckpt_path: str | os.PathLike[str]) -> Path:
    """Load a checkpoint's weights (``weights_only``) into ``built.task``; the DataModule checks that
    the checkpoint's tokenizer is the one this config builds. Returns the checkpoint file."""
    path = resolve_checkpoint(ckpt_path)
    checkpoint = read_checkpoint(path)
    task = type(built.task)
    check_task(str(path), checkpoint, f"{task.__module__}.{task.__qualname__}", "diagnose")
    check_fits(str(path), checkpoint, built.task, built.datamodule, "diagnose")
    built.task.load_state_dict(checkpoint["state_dict"])
    data_state = recorded_data_state(checkpoint, built.datamodule)
    if data_state is not None:
        built.datamodule.load_state_dict(data_state)
    return path


def _seed(seed_everything: bool | int) -> int | None:
    """Seed as LightningCLI does: an int seeds with it, ``True`` with a fresh random seed, ``False`` not
    at all. Returns the seed used."""
    if seed_everything is False:
        return None
    return L.seed_everything(None if seed_everything is True else seed_everything, verbose=False)
