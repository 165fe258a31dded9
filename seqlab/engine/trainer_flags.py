"""Lightning settings that do something other than what a user writes, made to mean what they say.

- ``--trainer.limit_val_batches 1`` (or ``limit_val_batches: 1`` in a YAML): jsonargparse reads the
  ``int | float`` of Lightning's signature as the float ``1.0``, which Lightning takes as 100% of the
  batches. A whole number written on the command line or in a config file means that many batches.
- ``--trainer.val_check_interval 300``: Lightning counts the 300 batches within one epoch and stops
  at once on data with fewer batches per epoch. Unless ``check_val_every_n_epoch`` is written, a whole
  number counts training batches across epochs (``check_val_every_n_epoch: null``), on any data size.
- ``--trainer.default_root_dir DIR``: seqlab records runs under ``run.root_dir``; the Lightning flag
  names the same root, so it sets ``run.root_dir`` (a different ``--run.root_dir`` is refused).
- ``--run.quick true``: a short check of any experiment (:data:`QUICK_TRAINER`, W&B off).
- ``--print_config``: jsonargparse prints the settings as parsed (``limit_val_batches: 1.0``); seqlab
  prints them after the above, as the run uses them.
- ``--optimizer`` / ``--lr_scheduler``: LightningCLI's own would replace the task's optimizer and drop
  its schedule without a word; they are refused with a pointer to ``--model.optimizer``.
- ``--trainer.max_epochs 0`` (``max_steps``, ``limit_train_batches``) and ``--trainer.accelerator gpu``
  on a machine without one: Lightning ends the first at once with exit status 0 and no checkpoint,
  and refuses the second only after the data is prepared; seqlab refuses both before it (the GPU in
  every training verb; :func:`refuse_no_training`, :func:`refuse_missing_gpu`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from seqlab.engine.errors import SettingError

# Trainer settings typed ``int | float``: a float counts a fraction, an int counts batches.
BATCH_COUNTS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")
_WHOLE = re.compile(r"^\+?\d+$")
_DEFAULT_ROOT = "runs"  # RunSettings.root_dir's default
# --run.quick: validation counted in steps across epochs, so tiny and huge datasets both work.
QUICK_TRAINER: dict[str, Any] = {
    "max_steps": 40,
    "val_check_interval": 20,
    "check_val_every_n_epoch": None,
    "limit_val_batches": 5,
    "limit_test_batches": 5,
    "log_every_n_steps": 5,
}
# --run.quick also caps the data's batch size (examples per batch, or streams of a language model):
# the shipped G2P experiment's 256 took 6 s a step on 2 CPU cores, 4.5 minutes for the 40 steps.
QUICK_BATCH_SIZE = 32


def _config_file_settings(value: str) -> dict[str, Any]:
    """The ``trainer`` section of a ``--config`` value (a file, or inline YAML); ``{}`` if unreadable
    (a broken file has been reported before parsing)."""
    try:
        text = Path(value).read_text(encoding="utf-8") if Path(value).is_file() else value
        loaded = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    trainer = loaded.get("trainer") if isinstance(loaded, dict) else None
    return trainer if isinstance(trainer, dict) else {}


def _settings_in_order(args: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """``(trainer key, value as written)`` for every trainer setting in ``args`` and in the config
    files they name, in the order jsonargparse applies them (later ones win). Command-line values
    are strings, YAML values what YAML made of them."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            yield from _config_file_settings(args[i + 1]).items()
        elif arg.startswith("--config="):
            yield from _config_file_settings(arg.removeprefix("--config=")).items()
        elif arg.startswith("--trainer."):
            key, eq, value = arg.removeprefix("--trainer.").partition("=")
            if not eq and i + 1 < len(args):
                value = args[i + 1]
            yield key, value


def written_as_whole_numbers(args: Sequence[str]) -> dict[str, int]:
    """The batch-count settings whose deciding (last) value in ``args`` or its config files was
    written as a whole number (``1``, not ``1.0``), with that number."""
    written: dict[str, int] = {}
    for key, value in _settings_in_order(args):
        if key not in BATCH_COUNTS:
            continue
        whole = isinstance(value, int) and not isinstance(value, bool)
        whole = whole or (isinstance(value, str) and _WHOLE.match(value.strip()) is not None)
        if whole:
            written[key] = int(value)
        else:
            written.pop(key, None)
    return written


# --print_config's flags (jsonargparse's) -> ArgumentParser.dump's arguments.
_PRINT_FLAGS = {"skip_default": "skip_default", "skip_unset": "skip_unset", "skip_null": "skip_unset"}
_PRINT_FLAGS |= {"comments": "with_comments"}


def without_print_config(args: Sequence[str]) -> tuple[list[str], dict[str, bool] | None]:
    """``args`` less ``--print_config[=flags]``, and the ``dump`` arguments it asks for (``None``: not
    asked). seqlab prints the config itself, after :func:`apply_user_intent`."""
    kept, shown = [], None
    for arg in args:
        name, _, flags = arg.partition("=")
        if name != "--print_config":
            kept.append(arg)
            continue
        shown = {"skip_unset": False, "skip_validation": True}
        for flag in filter(None, flags.split(",")):
            if flag not in _PRINT_FLAGS:
                raise SettingError(f"--print_config={flags}: expected flags among {', '.join(_PRINT_FLAGS)}")
            shown[_PRINT_FLAGS[flag]] = True
    return kept, shown


def as_used(dumped: str, trainer_args: dict[str, Any]) -> str:
    """A dumped config (YAML) with the ``trainer`` settings of :func:`apply_user_intent` as the run uses
    them: dumping types ``limit_val_batches`` as Lightning's ``float | int`` again (``1.0``)."""
    lines, in_trainer = dumped.splitlines(keepends=True), False
    for i, line in enumerate(lines):
        if line.strip() and not line[0].isspace():
            in_trainer = line.startswith("trainer:")
        key = line.strip().split(":", 1)[0]
        if in_trainer and line.startswith("  ") and not line.startswith("   ") and key in trainer_args:
            value = yaml.safe_dump(trainer_args[key], default_flow_style=True).removesuffix("\n...\n")
            lines[i] = f"  {key}: {value.strip()}\n"
    return "".join(lines)


def apply_user_intent(config: Any, args: Sequence[str]) -> dict[str, Any]:
    """Make one verb's parsed ``config`` (trainer, run, optimizer sections) mean what ``args`` say;
    returns the Trainer arguments to pass as they are (instantiating would make ``1`` a float
    again). Raises SettingError for flags that cannot (see the module docstring)."""
    _one_root(config.trainer, config.run)
    _refuse_cli_optimizer(config)
    written = written_as_whole_numbers(args)
    overrides: dict[str, Any] = {k: n for k, n in written.items() if config.trainer.get(k) == n}
    overrides = {**overrides, **_validation_across_epochs(config.trainer, args), **_quick_run(config, args)}
    for key, value in overrides.items():  # what --print_config and the run's config.yaml show
        config.trainer[key] = value
    return overrides


def refuse_no_training(trainer: Any) -> None:
    """A fit with a budget of nothing (``max_epochs 0``, ``max_steps 0``, ``limit_train_batches 0``)
    is refused before the data is prepared: Lightning would stop at once with exit status 0 and no
    checkpoint, which reads as a finished run."""
    for key, expected in (
        ("max_epochs", "at least 1, or -1 for no limit"),
        ("max_steps", "at least 1, or -1 for no limit"),
        ("limit_train_batches", "a whole number of batches >= 1 or a fraction above 0"),
    ):
        value = trainer.get(key)
        if value == 0 and not isinstance(value, bool):
            raise SettingError(f"--trainer.{key} {value}: a fit would train nothing; expected {expected}")


def refuse_missing_gpu(trainer: Any) -> None:
    """``--trainer.accelerator gpu`` (or ``cuda``) where torch sees no GPU is refused before the data
    is prepared, in words (Lightning's "No supported gpu backend found!" came after it)."""
    accelerator = trainer.get("accelerator")
    if not isinstance(accelerator, str) or accelerator.lower() not in ("gpu", "cuda"):
        return
    import torch

    if torch.cuda.device_count() == 0:  # counted without initialising CUDA: ddp_fork still works
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only torch build"
        raise SettingError(
            f"--trainer.accelerator {accelerator}: torch sees no GPU here ({built}, torch "
            f"{torch.__version__}); use --trainer.accelerator cpu, or auto to take a GPU where there is one"
        )


def _validation_across_epochs(trainer: Any, args: Sequence[str]) -> dict[str, Any]:
    """``check_val_every_n_epoch: None`` where ``val_check_interval`` is a whole number of batches and
    ``check_val_every_n_epoch`` was not written: validation every N batches, epochs or not."""
    interval = trainer.get("val_check_interval")
    batches = isinstance(interval, int) and not isinstance(interval, bool)
    if (batches and interval < 1) or (isinstance(interval, float) and not 0 < interval <= 1):
        raise SettingError(
            f"--trainer.val_check_interval {interval}: expected a whole number of training batches "
            "(>= 1) or a fraction of an epoch (above 0, at most 1.0)"
        )
    written = {key for key, _ in _settings_in_order(args)}
    if not batches or "check_val_every_n_epoch" in written:
        return {}
    return {"check_val_every_n_epoch": None}


def _quick_run(config: Any, args: Sequence[str]) -> dict[str, Any]:
    """``--run.quick``: :data:`QUICK_TRAINER` over the config files' trainer settings (not over
    ``--trainer.X`` flags on the command line), and W&B off unless ``--run.wandb.mode`` is given."""
    if not config.run.get("quick"):
        return {}
    given = {arg[2:].split("=", 1)[0] for arg in args if arg.startswith("--")}
    if "run.wandb.mode" not in given:
        config.run.wandb.mode = "disabled"
    quick = {key: value for key, value in QUICK_TRAINER.items() if f"trainer.{key}" not in given}
    shown = ", ".join(f"{key}={value}" for key, value in quick.items())
    shown += _quick_batch_size(config, given)
    print(f"seqlab: quick run: {shown}, W&B {config.run.wandb.mode}", file=sys.stderr)
    return quick


def _quick_batch_size(config: Any, given: set[str]) -> str:
    """Cap ``data.batch_size`` at :data:`QUICK_BATCH_SIZE` unless ``--data.batch_size`` is given;
    what was done, for the quick-run line."""
    data = config.get("data")
    settings = data.get("init_args") if data is not None and "init_args" in data else data
    size = settings.get("batch_size") if settings is not None and "batch_size" in settings else None
    if "data.batch_size" in given or not isinstance(size, int) or size <= QUICK_BATCH_SIZE:
        return ""
    settings["batch_size"] = QUICK_BATCH_SIZE
    return f", data.batch_size={QUICK_BATCH_SIZE} (was {size})"


def _one_root(trainer: Any, run: Any) -> None:
    """``trainer.default_root_dir`` sets ``run.root_dir`` (where seqlab's runs live)."""
    root = trainer.get("default_root_dir")
    if root is None:
        return
    root = str(root)
    if run.dir:
        raise SettingError(
            f"--trainer.default_root_dir {root} and --run.dir {run.dir} both say where the run goes: "
            "give one (--run.dir is the run's own directory, --run.root_dir the parent of all runs)"
        )
    if run.root_dir not in (_DEFAULT_ROOT, root):
        raise SettingError(
            f"--trainer.default_root_dir {root} and --run.root_dir {run.root_dir} disagree: "
            "seqlab keeps runs under --run.root_dir; give that one only"
        )
    run.root_dir = root


def _class_name(value: Any) -> str:
    return str(value.get("class_path") if hasattr(value, "get") and value.get("class_path") else value)


def _refuse_cli_optimizer(config: Any) -> None:
    """LightningCLI's ``--optimizer``/``--lr_scheduler`` would silently replace the task's own."""
    for key in ("optimizer", "lr_scheduler"):
        given = config.get(key)
        if given is None:
            continue
        init_args = config.model.get("init_args") or {}
        current = init_args.get(key) if hasattr(init_args, "get") else None
        task_has = f" ({_class_name(current)} in the config)" if current is not None else ""
        name = _class_name(given).rsplit(".", 1)[-1]
        raise SettingError(
            f"--{key} {name} would override the task's {key}{task_has} behind its back (Lightning's "
            f"flag): use --model.{key} {name} (its arguments as --model.{key}.NAME VALUE)"
        )
