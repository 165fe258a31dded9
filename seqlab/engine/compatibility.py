"""Does a checkpoint belong to the run a config describes? Checked before anything is written.

Lightning would find out late: a checkpoint of another task or another vocabulary fails with a tensor
size mismatch deep inside ``trainer.fit``, after the run directory (the checkpoint's own run) has had
its status, hparams and W&B config rewritten. These checks compare the checkpoint with the config
(task class) and with the freshly built model and data (vocabulary, parameter shapes) first, and say
what differs.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch

from seqlab.engine.checkpoints import recorded_data_state, recorded_task
from seqlab.engine.errors import UserError

# Sizes the data knows once its vocabularies are fitted, linked into the model's init args; a link is
# skipped where either side lacks the attribute or argument (a language model has no labels).
DATA_LINKS = (
    "vocab_size",
    "char_vocab_size",
    "labels",
    "source_vocab_size",
    "target_vocab_size",
    "num_features",
)

_HIDDEN_HPARAMS = ("_class_path", "_instantiator")

# Flat hyperparameters of checkpoints from before ``net`` that have another name there
# (SpeechRecognitionTask's ``layers``).
_RENAMED_NET_KEYS = {"layers": "num_layers"}


class CheckpointMismatch(UserError, ValueError):
    """The checkpoint was trained by another task, on other data, or with another architecture."""


def _advice(verb: str) -> str:
    if verb == "fit":
        return "leave out --ckpt_path to start a new run"
    return f"give the config the checkpoint was trained with to {verb} it"


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def moved_net_flags(args: list[str]) -> list[str]:
    """Where the architecture flags of older seqlab versions went (``--model.hidden_size`` is
    ``--model.net.hidden_size`` now), for the flags in ``args`` spelled the old way."""
    from seqlab import nn as models  # below the engine; imported here to read its config classes

    configs = [
        c for name, c in vars(models).items() if name.endswith("Config") and dataclasses.is_dataclass(c)
    ]
    fields = {f.name for config in configs for f in dataclasses.fields(config)}
    notes = []
    for arg in args:
        key = arg.split("=", 1)[0].removeprefix("--model.").removeprefix("init_args.")
        if arg.startswith("--model.") and "." not in key and _RENAMED_NET_KEYS.get(key, key) in fields:
            new = f"--model.net.{_RENAMED_NET_KEYS.get(key, key)}"
            notes.append(f"seqlab's tasks take their architecture under net: {arg.split('=', 1)[0]} is {new}")
    return notes


def import_class(dotted: str) -> type | None:
    """The class ``dotted`` names, or ``None`` where it does not import."""
    module, _, name = dotted.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return found if isinstance(found, type) else None


def net_fields(task_class: type) -> tuple[str, ...]:
    """The fields of a task's ``net`` architecture dataclass (none: the task takes no ``net``)."""
    try:
        config = typing.get_type_hints(task_class.__init__).get("net")
    except (NameError, TypeError):
        return ()
    return tuple(f.name for f in dataclasses.fields(config)) if dataclasses.is_dataclass(config) else ()


def fold_legacy_hparams(hparams: Mapping[str, Any], task_class: type | None) -> dict[str, Any]:
    """A checkpoint's hyperparameters in today's layout: checkpoints from before ``net`` hold the
    architecture at the top level (``hidden_size``), and those keys move into ``net``. Hyperparameters
    that are already in today's layout come back unchanged."""
    fields = net_fields(task_class) if task_class is not None else ()
    if not fields:
        return dict(hparams)
    params = inspect.signature(task_class.__init__).parameters
    folded: dict[str, Any] = {}
    net = dict(hparams.get("net") or {})
    for key, value in hparams.items():
        field = _RENAMED_NET_KEYS.get(key, key)
        if key not in params and field in fields:
            net[field] = value
        elif key != "net":
            folded[key] = value
    if net:
        folded["net"] = net
    return folded


def check_task(ckpt_path: str, checkpoint: Mapping[str, Any], class_path: str | None, verb: str) -> None:
    """The config's model class must be the checkpoint's task class (compared as imported classes:
    ``seqlab.tasks.X`` and ``seqlab.tasks.x.X`` are the same task)."""
    recorded = recorded_task(checkpoint)
    if not recorded or not class_path:
        return
    theirs, ours = import_class(recorded), import_class(class_path)
    if theirs is not None and ours is not None:
        if theirs is ours:
            return
        recorded, class_path = _dotted(theirs), _dotted(ours)
    elif recorded == class_path:
        return
    raise CheckpointMismatch(
        f"{ckpt_path} was trained by {recorded}, not {class_path}: use a config of that kind, "
        f"or {_advice(verb)}"
    )


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ...] ({len(value)})"
    return str(value)


def _hparam_differences(theirs: Mapping[str, Any], ours: Mapping[str, Any], keys: list[str]) -> list[str]:
    return [f"{key} {_show(theirs[key])} in the checkpoint, {_show(ours[key])} here" for key in keys]


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):  # tensors, arrays: not plain settings
        return a is b


def _differing(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    return [k for k in theirs if k in ours and k not in _HIDDEN_HPARAMS and not _same(theirs[k], ours[k])]


def _flat(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``net``'s fields as ``net.hidden_size`` beside the other hyperparameters, so a difference names
    the field."""
    flat = {k: v for k, v in hparams.items() if k != "net"}
    net = hparams.get("net")
    if isinstance(net, Mapping):
        flat.update({f"net.{k}": v for k, v in net.items()})
    return flat


def _shape_differences(checkpoint_state: Mapping[str, Any], model: L.LightningModule) -> list[str]:
    """Parameters and buffers the checkpoint lacks, has extra, or holds in another shape."""
    ours = model.state_dict()
    found = []
    if getattr(model, "strict_loading", True):
        found += [f"{key} missing from the checkpoint" for key in ours if key not in checkpoint_state]
        found += [f"{key} unknown to this model" for key in checkpoint_state if key not in ours]
    for key, value in ours.items():
        theirs = checkpoint_state.get(key)
        if key.endswith("_extra_state") or not (torch.is_tensor(value) and torch.is_tensor(theirs)):
            continue
        if theirs.shape != value.shape:
            found.append(f"{key} {list(theirs.shape)} in the checkpoint, {list(value.shape)} here")
    return found


def check_fits(
    ckpt_path: str,
    checkpoint: Mapping[str, Any],
    model: L.LightningModule,
    datamodule: L.LightningDataModule | None,
    verb: str,
) -> None:
    """The data must rebuild the checkpoint's vocabularies and the model must have its parameter names
    and shapes; the error names the sizes or hyperparameters that differ."""
    theirs = _flat(fold_legacy_hparams(checkpoint.get("hyper_parameters") or {}, type(model)))
    ours = _flat(dict(getattr(model, "hparams", {}) or {}))
    differing = _differing(theirs, ours)
    sizes = [k for k in differing if k in DATA_LINKS]
    if sizes:
        raise CheckpointMismatch(
            f"{ckpt_path} was trained on other data: {'; '.join(_hparam_differences(theirs, ours, sizes))}: "
            f"use the data settings of that run, or {_advice(verb)}"
        )
    data_state = recorded_data_state(checkpoint, datamodule) if datamodule is not None else None
    if data_state is not None:
        try:
            datamodule.load_state_dict(data_state)  # a pure check in every seqlab DataModule
        except ValueError as err:
            raise CheckpointMismatch(f"{ckpt_path}: {err}, or {_advice(verb)}") from None
    shapes = _shape_differences(checkpoint.get("state_dict") or {}, model)
    if not shapes:
        return
    options = [k for k in differing if k not in DATA_LINKS]
    if options:
        detail = "; ".join(_hparam_differences(theirs, ours, options))
        hint = "leave out the options that change the architecture"
    else:
        detail = "; ".join(shapes[:4]) + (f"; and {len(shapes) - 4} more" if len(shapes) > 4 else "")
        hint = "use the model settings of that run"
    raise CheckpointMismatch(
        f"{ckpt_path} does not fit the model this config builds: {detail}: {hint}, or {_advice(verb)}"
    )
