"""The options that the inference verbs (``generate``, ``predict``, ``decode``, ``transcribe``) share,
each declared once, and the one way their command lines are parsed.

A verb's options are dataclasses whose fields are its flags, flat (``--beam_size``, not
``--search.beam_size``), so a setting is declared, typed and documented in one place and reaches the
code as one typed object instead of a loose dict or a long argument list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from seqlab.engine.outputs import check_output, write_output
from seqlab.engine.run_dir import checkpoint_path


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """The trained model a verb runs, and the device it runs on.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    ckpt_path: str | None = None
    run_name: str | None = None
    root_dir: str = "runs"
    device: str = "auto"

    def checkpoint(self, verb: str) -> Path:
        """The checkpoint file meant (``seqlab <verb>: ...`` when there is none)."""
        return checkpoint_path(self.ckpt_path, self.run_name, self.root_dir, verb)

    def torch_device(self) -> str:
        """``device``, with ``auto`` meaning ``cuda`` where there is a GPU, else ``cpu``."""
        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"


@dataclasses.dataclass(frozen=True)
class OutputFile:
    """Where a verb writes its results.

    Args:
        output: where to write (default: standard output).
        overwrite: let ``output`` replace an existing file (never an input, a file an input lists, or
            the checkpoint).
    """

    output: str | None = None
    overwrite: bool = False

    def check(self, inputs: Iterable[str], checkpoint: Path) -> None:
        """Refuse, before any model is loaded, an ``output`` that would destroy something."""
        check_output(self.output, inputs, checkpoint, self.overwrite)

    def write(self, write: Callable[[TextIO], object]) -> None:
        """Write through ``write(file)``, atomically to ``output`` or to standard output."""
        write_output(self.output, write)


def parse_verb_options(
    verb: str, description: str, argv: list[str], groups: Sequence[type], several: Collection[str] = ()
) -> list[Any]:
    """One instance of each dataclass in ``groups``, from ``argv`` (``--field value``, or a YAML
    ``--config``); a field named in ``several`` takes every value up to the next flag
    (``--input a.wav b.wav``). A bad flag or value exits with jsonargparse's usage and error message."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog=f"seqlab {verb}", description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options")
    for group in groups:
        names = {field.name for field in dataclasses.fields(group)}
        parser.add_class_arguments(group, nested_key=None, skip=set(several) & names)
        for name in sorted(set(several) & names):
            parser.add_argument(f"--{name}", nargs="+", type=str, help=_field_help(group, name))
    config = parser.parse_args(argv)
    return [group(**{f.name: config[f.name] for f in dataclasses.fields(group)}) for group in groups]


def _field_help(group: type, name: str) -> str | None:
    """The ``Args:`` line of ``group``'s docstring for ``name`` (what jsonargparse shows for the others)."""
    from docstring_parser import parse

    return next((p.description for p in parse(group.__doc__ or "").params if p.arg_name == name), None)
