"""Checkpoint files: written atomically, read back safely (``weights_only``: no arbitrary unpickling),
and turned back into trained tasks."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.data.tokenizers import Tokenizer, tokenizer_from_state
from seqlab.engine.errors import UserError
from seqlab.engine.outputs import write_atomically
from seqlab.tasks.base import SeqTask


class CheckpointError(UserError, ValueError):
    """A checkpoint file that cannot serve: unreadable (truncated, empty, not a checkpoint at all), not
    written by seqlab, or holding a kind of task that the command does not run."""


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint's dictionary, read with ``weights_only=True`` (no arbitrary unpickling).

    Every seqlab command reads checkpoints here, so a bad file gets one clear message instead of
    torch's (``EOFError``, a zip "central directory" error, or advice to turn ``weights_only`` off,
    which would run whatever code the file holds).

    Raises:
        FileNotFoundError: there is no such file.
        CheckpointError: the file is not a readable checkpoint.
    """
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint file") from None
    except PermissionError:
        raise CheckpointError(f"{path}: cannot read the checkpoint (permission denied)") from None
    except MemoryError:
        raise
    except Exception:  # torch raises a different type for every way a file can be broken
        raise CheckpointError(_unreadable(path)) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(_unreadable(path))
    return checkpoint


def _unreadable(path: str | Path) -> str:
    return f"{path} is not a readable seqlab checkpoint (truncated or not a checkpoint)"


def nonfinite_weight(checkpoint: dict[str, Any]) -> str | None:
    """The name of the first floating-point weight in the checkpoint's ``state_dict`` with a NaN or
    infinity in it, or ``None`` when all are finite."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        return None
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            return str(name)
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint files that are either the old one or the complete new one, whatever happens.

    Lightning's writer renames a temporary file from the system temp directory, which is a plain
    copy onto the target when that directory is on another file system (local /tmp, runs on NFS or
    Lustre): a kill mid-copy leaves a truncated ``last.ckpt``. Here the temporary file sits beside
    the target (see :func:`~seqlab.engine.outputs.write_atomically`). Reading is always ``weights_only``.

    A checkpoint whose weights hold NaN or infinity is not written (a warning says so): the file it
    would replace keeps the last finite weights, for resuming or decoding after a divergence.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        bad = nonfinite_weight(checkpoint)
        if bad is not None:
            warnings.warn(
                f"{target}: not written: weight {bad!r} holds NaN or infinity; the previous file is kept",
                stacklevel=2,
            )
            return
        write_atomically(target, lambda file: torch.save(checkpoint, file), binary=True)

    def load_checkpoint(
        self, path: Any, map_location: Callable | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(path, map_location or "cpu")


def _task_kinds() -> tuple[tuple[type[SeqTask], str, str], ...]:
    """The one table of what each kind of task is called and which command runs it (the first base
    class that matches wins)."""
    from seqlab.tasks import (
        ClassificationTask,
        LabellingTask,
        LanguageModelTask,
        SpeechRecognitionTask,
        TransductionTask,
    )

    return (
        (LanguageModelTask, "language model", "generate"),
        (ClassificationTask, "classification", "predict"),
        (LabellingTask, "tagging", "predict"),
        (TransductionTask, "encoder-decoder", "decode"),
        (SpeechRecognitionTask, "speech recognition", "transcribe"),
    )


def check_verb(cls: type[SeqTask], path: str | Path, verb: str) -> None:
    """Refuse a checkpoint that ``seqlab <verb>`` does not run, naming what it holds and the verb
    that does run it."""
    for base, kind, runs_it in _task_kinds():
        if issubclass(cls, base):
            if runs_it != verb:
                raise CheckpointError(f"{path} holds a {cls.__name__} ({kind}); use seqlab {runs_it} for it")
            return
    raise CheckpointError(f"{path} holds a {cls.__name__}, which seqlab {verb} does not run")


def recorded_task(checkpoint: dict[str, Any]) -> str | None:
    """The task class a checkpoint was trained by (seqlab's record, else Lightning's hyperparameters)."""
    seqlab = checkpoint.get("seqlab")
    if isinstance(seqlab, dict) and seqlab.get("task_class"):
        return str(seqlab["task_class"])
    hparams = checkpoint.get("hyper_parameters")
    if isinstance(hparams, dict) and hparams.get("_class_path"):
        return str(hparams["_class_path"])
    return None


def task_class(checkpoint: dict[str, Any], path: str | Path = "the checkpoint") -> type[SeqTask]:
    """The task class recorded in a seqlab checkpoint (``path`` only names the file in errors)."""
    dotted = recorded_task(checkpoint)
    if not dotted:
        raise CheckpointError(f"{path} is not a seqlab checkpoint: it records no task class")
    module, _, name = dotted.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise CheckpointError(
            f"{path} holds a {dotted}, which this version of seqlab does not have"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, SeqTask)):
        raise CheckpointError(f"{path} names {dotted!r}, which is not a seqlab task")
    return cls


def checkpoint_data_state(checkpoint: dict[str, Any], path: str | Path = "the checkpoint") -> dict[str, Any]:
    """The state the run's DataModule saved into the checkpoint (tokenizers, labels)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get("tokenizer"), dict):
            return value
    raise CheckpointError(f"{path} holds no tokenizer state (was it written by a seqlab DataModule?)")


def load_trained(
    path: str | Path, device: str | torch.device = "cpu", verb: str | None = None
) -> tuple[SeqTask, dict[str, Any]]:
    """The trained task (in eval mode, on ``device``) and its run's data state (tokenizers, labels,
    features). With ``verb``, a checkpoint of a task that ``seqlab <verb>`` does not run is refused
    before its weights are built."""
    checkpoint = read_checkpoint(path)
    cls = task_class(checkpoint, path)
    if verb is not None:
        check_verb(cls, path, verb)
    state = checkpoint_data_state(checkpoint, path)
    _check_vocabulary(checkpoint, state, cls, path)
    try:
        task = cls.load_from_checkpoint(path, map_location=device, weights_only=True)
    except (TypeError, RuntimeError) as err:  # another version's arguments, weights of other shapes
        if isinstance(err, RuntimeError) and "state_dict" not in str(err):
            raise
        detail = " ".join(line.strip() for line in str(err).strip().splitlines()[:2])
        raise CheckpointError(
            f"{path} does not fit seqlab's {cls.__name__} (another seqlab version, or a damaged file): "
            f"{detail}"
        ) from None
    task.eval()
    return task, state


def _check_vocabulary(
    checkpoint: dict[str, Any], state: dict[str, Any], cls: type[SeqTask], path: str | Path
) -> None:
    """The model's vocabulary must be its tokenizer's: a mismatch would fail later as an index error
    deep in a forward pass, or quietly decode the wrong tokens."""
    hparams = checkpoint.get("hyper_parameters") or {}
    size = hparams.get("vocab_size", hparams.get("source_vocab_size"))
    if not isinstance(size, int):
        return
    tokenizer = state["tokenizer"]
    if tokenizer.get("type") == "speech_alphabet":
        from seqlab.data.speech_alphabet import Alphabet

        found = Alphabet.from_state(tokenizer).size
    else:
        found = tokenizer_from_state(tokenizer).vocab_size
    if found != size:
        raise CheckpointError(
            f"{path} is inconsistent: its {cls.__name__} has a vocabulary of {size} tokens, "
            f"its tokenizer one of {found}"
        )


def load_task(
    path: str | Path, device: str | torch.device = "cpu", verb: str | None = None
) -> tuple[SeqTask, Tokenizer]:
    """The trained task (in eval mode, on ``device``) and its tokenizer."""
    task, state = load_trained(path, device, verb)
    return task, tokenizer_from_state(state["tokenizer"])
