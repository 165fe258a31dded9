"""Experiment config files checked before jsonargparse reads them.

jsonargparse reports a YAML syntax error as ``"<unicode string>", line 6`` (it parses the file's text,
not the file) after a screenful of usage, and a missing file as a parser-key problem. Checking the
file first lets every command that takes ``--config`` say ``bad.yaml, line 6, column 3: <problem>``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from seqlab.data import RENAMED
from seqlab.data.errors import DataError
from seqlab.data.formats.text_files import read_text_file


def config_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as an experiment config (missing, not UTF-8, not YAML, not a
    mapping of settings), as a message that starts with the path; ``None`` when it parses."""
    shown = os.fspath(path)
    if not Path(path).exists():
        return f"{shown}: no such config file"
    try:
        text = read_text_file(path)
    except DataError as err:  # empty, a directory, not UTF-8
        return str(err)
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return yaml_problem(shown, err)
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        return f"{shown}: expected a YAML mapping of settings (model:, data:, trainer: ...), found a {kind}"
    return renamed_class_problem(shown, loaded)


def renamed_class_problem(shown: str, config: Any) -> str | None:
    """A ``class_path`` of a seqlab data class written before it was renamed or moved (e.g.
    ``seqlab.data.TaggingData``, ``seqlab.data.speech_data.SpeechDataModule``): its new class path."""
    import seqlab.data

    for path in _class_paths(config):
        module, _, name = path.rpartition(".")
        new = RENAMED.get(name, name)
        if module.startswith("seqlab.data") and hasattr(seqlab.data, new) and not _importable(path):
            return f"{shown}: class_path {path} is now seqlab.data.{new}; change it in the config"
    return None


def _class_paths(config: Any) -> list[str]:
    if isinstance(config, dict):
        found = [config["class_path"]] if isinstance(config.get("class_path"), str) else []
        return found + [p for value in config.values() for p in _class_paths(value)]
    if isinstance(config, list):
        return [p for value in config for p in _class_paths(value)]
    return []


def _importable(path: str) -> bool:
    module, _, name = path.rpartition(".")
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def yaml_problem(shown: str, err: yaml.YAMLError) -> str:
    """``FILE, line L, column C: problem (context that starts on line K)``, 1-based, for a YAML error
    raised on a file's text (whose own marks say ``"<unicode string>"``)."""
    if not isinstance(err, yaml.MarkedYAMLError):  # e.g. a reader error: its text has the position
        return f"{shown}: not valid YAML: {err}"
    mark = err.problem_mark or err.context_mark
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    message = f"{shown}{where}: {err.problem or err.context or 'not valid YAML'}"
    if err.context and err.problem and err.context_mark is not None:
        message += f" ({err.context} that starts on line {err.context_mark.line + 1})"
    return message


def config_arguments(argv: Sequence[str]) -> list[str]:
    """The values of ``--config``/``-c`` options in a LightningCLI-style argument list."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--config="):
            found.append(arg.removeprefix("--config="))
    return found


def check_config_arguments(argv: Sequence[str]) -> str | None:
    """The first problem with a ``--config`` file in ``argv``; a value that is an inline YAML mapping
    (``--config '{trainer: {max_steps: 5}}'``, which jsonargparse also accepts) is left alone."""
    for value in config_arguments(argv):
        if not Path(value).exists():
            try:
                inline = yaml.safe_load(value)
            except yaml.YAMLError:
                inline = None
            if isinstance(inline, dict):
                continue
        problem = config_file_problem(value)
        if problem is not None:
            return problem
    return None
