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
        check_net(value)
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
    config = cls(**value)
    check_net(config)
    return config


def _counts_something(name: str) -> bool:
    """A field that is a width, a depth or a factor: a whole number of at least 1."""
    return name.endswith(("_size", "_layers", "_factor"))


def _is_number(value: Any, kind: Any) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def check_net(config: Any) -> None:
    """Every size, layer count and factor of a net config a whole number >= 1 (``None`` where the
    field allows it) and every dropout a share in [0, 1): a SettingError naming the key, before torch
    reports the same mistake from deep inside a layer's constructor."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "dropout" or field.name.endswith("_dropout"):
            fits, expected = _is_number(value, int | float) and 0 <= value < 1, "a share in [0, 1)"
        elif _counts_something(field.name) and value is not None:
            fits, expected = _is_number(value, int) and value >= 1, "a whole number >= 1"
        else:
            continue
        if not fits:
            raise SettingError(f"model.net.{field.name}: expected {expected}, got {value!r}")


def plain(config: Any) -> dict[str, Any]:
    """A net config as the plain dict that hparams and checkpoints hold."""
    return dataclasses.asdict(config)
