"""Checkpoint files: written atomically, read back safely (``weights_only``: no arbitrary unpickling).
Turning one back into a trained task is ``seqlab.inference.loader``'s (above the tasks)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.data import DATA_MODULES, RENAMED
from seqlab.engine.errors import UserError
from seqlab.engine.outputs import write_atomically

# DataModules renamed since older checkpoints were written (old class name -> new). Lightning files a
# DataModule's state under its class name, so an older checkpoint holds it under the old name;
# reading a checkpoint moves it to the new one, and the checkpoint resumes, predicts and decodes as before.
RENAMED_DATA_MODULES = {old: new for old, new in RENAMED.items() if new in {c.__name__ for c in DATA_MODULES}}


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
    return rename_old_data_state(checkpoint)


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


def nothing_left_to_train(checkpoint: Mapping[str, Any], max_epochs: Any, max_steps: Any) -> str | None:
    """Why resuming ``checkpoint`` under these limits trains nothing (Lightning then ends at once,
    silently), or ``None``: a run already past ``--trainer.max_epochs`` (counted as Lightning's fit
    loop counts them: epochs started) or ``--trainer.max_steps``."""
    step = int(checkpoint.get("global_step") or 0)
    progress = (checkpoint.get("loops") or {}).get("fit_loop", {}).get("epoch_progress", {})
    epochs = int(progress.get("current", {}).get("processed", 0))
    if isinstance(max_steps, int) and max_steps >= 0 and step >= max_steps:
        return f"the checkpoint is at step {step} and --trainer.max_steps {max_steps} is reached"
    if isinstance(max_epochs, int) and max_epochs >= 0 and epochs >= max_epochs:
        trained = f"{epochs} epoch{'s' if epochs != 1 else ''}"
        return f"the checkpoint has trained {trained} and --trainer.max_epochs {max_epochs} is reached"
    return None


def recorded_task(checkpoint: dict[str, Any]) -> str | None:
    """The task class a checkpoint was trained by (seqlab's record, else Lightning's hyperparameters)."""
    seqlab = checkpoint.get("seqlab")
    if isinstance(seqlab, dict) and seqlab.get("task_class"):
        return str(seqlab["task_class"])
    hparams = checkpoint.get("hyper_parameters")
    if isinstance(hparams, dict) and hparams.get("_class_path"):
        return str(hparams["_class_path"])
    return None


def data_state_key(datamodule: L.LightningDataModule | type[L.LightningDataModule]) -> str:
    """Where a DataModule's state sits in a checkpoint: under its class name (Lightning's rule, which
    resuming follows too)."""
    cls = datamodule if isinstance(datamodule, type) else type(datamodule)
    return cls.__qualname__


def recorded_data_state(
    checkpoint: Mapping[str, Any], datamodule: L.LightningDataModule | None = None
) -> dict[str, Any] | None:
    """The state the run's DataModule saved into the checkpoint (tokenizers, labels, features), or
    ``None``: that of ``datamodule``'s class, or without one that of whichever seqlab DataModule
    wrote the checkpoint."""
    classes = DATA_MODULES if datamodule is None else (type(datamodule),)
    for key in map(data_state_key, classes):
        state = checkpoint.get(key)
        if isinstance(state, dict):
            return state
    return None


def checkpoint_data_state(checkpoint: dict[str, Any], path: str | Path = "the checkpoint") -> dict[str, Any]:
    """The state the run's DataModule saved into the checkpoint (tokenizers, labels, features)."""
    state = recorded_data_state(checkpoint)
    if state is None:
        names = ", ".join(data_state_key(c) for c in DATA_MODULES)
        raise CheckpointError(
            f"{path} holds no data state of a seqlab DataModule ({names}); was it written by seqlab?"
        )
    return state


def rename_old_data_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Move a data state filed under a DataModule's former class name to its current name (in place)."""
    for old, new in RENAMED_DATA_MODULES.items():
        if old in checkpoint and new not in checkpoint:
            checkpoint[new] = checkpoint.pop(old)
    return checkpoint
