"""Trained tasks from checkpoints, for the verbs that run them (``generate``, ``predict``, ``decode``,
``transcribe``): which task a checkpoint holds, whether the verb runs it, its weights and its data state.

Reading the file is the engine's (:func:`seqlab.engine.checkpoints.read_checkpoint`); this module sits
above the tasks because it builds them.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

import torch

from seqlab.data.modules.transduction import detokenize_target
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.checkpoints import CheckpointError, checkpoint_data_state, read_checkpoint, recorded_task
from seqlab.engine.compatibility import fold_legacy_hparams
from seqlab.engine.errors import SettingError
from seqlab.engine.task_data import TaskData
from seqlab.tasks.base import SeqTask


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


def task_kind(cls: type[SeqTask]) -> str | None:
    """What a task class is called in :func:`_task_kinds` (``classification``, ``tagging``, ...)."""
    return next((kind for base, kind, _ in _task_kinds() if issubclass(cls, base)), None)


def verb_of_kind(kind: str) -> str | None:
    """The verb that runs a kind of task (``seqlab predict`` for ``tagging``)."""
    return next((verb for _, known, verb in _task_kinds() if known == kind), None)


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
        task = _rebuild(cls, checkpoint)
    except (TypeError, RuntimeError, SettingError) as err:  # another version's arguments, other shapes
        if isinstance(err, RuntimeError) and "state_dict" not in str(err):
            raise
        detail = " ".join(line.strip() for line in str(err).strip().splitlines()[:2])
        raise CheckpointError(
            f"{path} does not fit seqlab's {cls.__name__} (another seqlab version, or a damaged file): "
            f"{detail}"
        ) from None
    task.data = _task_data(state)
    task.eval()
    return task.to(device), state


def _task_data(state: dict[str, Any]) -> TaskData:
    """What the run's DataModule handed the task (see :mod:`seqlab.engine.task_data`), rebuilt from
    the data state in the checkpoint (label counts are the training split's: not kept)."""
    tokenizer = state["tokenizer"]
    if tokenizer.get("type") == "speech_alphabet":
        from seqlab.data.tokenizers.speech_alphabet import Alphabet

        alphabet = Alphabet.from_state(tokenizer)
        return TaskData(alphabet=alphabet, detokenize=alphabet.detokenize)
    source = tokenizer_from_state(tokenizer)
    data = TaskData(
        token_strings=source.token_strings, char_level=source.kind == "char", detokenize=source.detokenize
    )
    if isinstance(state.get("target_tokenizer"), dict):  # an encoder-decoder's two sides
        data.detokenize = functools.partial(
            detokenize_target, tokenizer_from_state(state["target_tokenizer"])
        )
        data.detokenize_source = source.detokenize
    return data


def _rebuild(cls: type[SeqTask], checkpoint: dict[str, Any]) -> SeqTask:
    """What Lightning's ``load_from_checkpoint`` does, on the checkpoint already read, with the
    hyperparameters of checkpoints from before ``net`` (``hidden_size`` at the top level) folded in."""
    hparams = fold_legacy_hparams(checkpoint.get("hyper_parameters") or {}, cls)
    task = cls(**{k: v for k, v in hparams.items() if not k.startswith("_")})
    task.on_load_checkpoint(checkpoint)
    task.load_state_dict(checkpoint["state_dict"], strict=task.strict_loading)
    return task


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
        from seqlab.data.tokenizers.speech_alphabet import Alphabet

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
