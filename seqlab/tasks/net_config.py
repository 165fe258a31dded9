"""A task's architecture is one argument, ``net``: a frozen dataclass declared beside its model in
:mod:`seqlab.nn` (``RecurrentLMConfig`` for ``RecurrentLM``, ...), so each hyperparameter is declared and
documented once. The CLI builds it from ``model.init_args.net`` (flags ``--model.net.hidden_size``);
checkpoints keep it as a plain dict (they are read ``weights_only``), and a task rebuilt from one gets
that dict back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from seqlab.engine.errors import SettingError

Config = TypeVar("Config")


def net_config(cls: type[Config], value: Config | Mapping[str, Any]) -> Config:
    """``value`` as a ``cls``: the dataclass itself, or the plain dict a checkpoint saved."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise SettingError(f"net must be a {cls.__name__} or a mapping of its fields, got {value!r}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = [key for key in value if key not in names]
    if unknown:
        raise SettingError(
            f"net: unknown key {', '.join(map(repr, unknown))} for {cls.__name__} "
            f"(expected some of {', '.join(names)})"
        )
    return cls(**value)


def plain(config: Any) -> dict[str, Any]:
    """A net config as the plain dict that hparams and checkpoints hold."""
    return dataclasses.asdict(config)
