"""The kinds of trained model (language model, classification, tagging, encoder-decoder, speech
recognition): which task class each is and which verb runs it. One table, used by the loader for
checkpoints and by the export runtime for export folders."""

from __future__ import annotations

from pathlib import Path

from seqlab.engine.checkpoints import CheckpointError
from seqlab.tasks.base import SeqTask


def task_kinds() -> tuple[tuple[type[SeqTask], str, str], ...]:
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
    for base, kind, runs_it in task_kinds():
        if issubclass(cls, base):
            if runs_it != verb:
                raise CheckpointError(f"{path} holds a {cls.__name__} ({kind}); use seqlab {runs_it} for it")
            return
    raise CheckpointError(f"{path} holds a {cls.__name__}, which seqlab {verb} does not run")


def task_kind(cls: type[SeqTask]) -> str | None:
    """What a task class is called in :func:`task_kinds` (``classification``, ``tagging``, ...)."""
    return next((kind for base, kind, _ in task_kinds() if issubclass(cls, base)), None)


def verb_of_kind(kind: str) -> str | None:
    """The verb that runs a kind of task (``seqlab predict`` for ``tagging``)."""
    return next((verb for _, known, verb in task_kinds() if known == kind), None)
