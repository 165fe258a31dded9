"""What a task uses of its data besides the sizes linked into its arguments (``DATA_LINKS``), handed
over once by the engine right after task and data are built (training, building, and
:mod:`seqlab.inference.loader` from a checkpoint's data state), so no task reaches into ``trainer.datamodule``
while it runs. None of it is saved in hyperparameters: it always comes from the data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskData:
    """The parts of a DataModule a task may use (``None``: this data has none).

    Attributes:
        token_strings: the vocabulary in id order (pretrained embeddings are matched to it).
        char_level: the tokens are characters (language models also log ``train/bpc``).
        chars_per_token: characters per token of each split, filled in as the splits are set up
            (language models over subwords report bits per character with it).
        detokenize: output ids to text (transduction outputs, speech transcripts).
        detokenize_source: source ids to text (attention heatmap labels).
        alphabet: the speech labels (:class:`seqlab.data.speech_alphabet.Alphabet`).
        label_counts: examples per label in the training split (balanced class weights).
    """

    token_strings: Callable[[], list[str]] | None = None
    char_level: bool = False
    chars_per_token: dict[str, float] = field(default_factory=dict)
    detokenize: Callable[[Sequence[int]], str] | None = None
    detokenize_source: Callable[[Sequence[int]], str] | None = None
    alphabet: Any = None
    label_counts: Callable[[], list[int]] | None = None


def task_data(datamodule: Any) -> TaskData:
    """What ``datamodule`` offers a task: its tokenizers, decoding, alphabet and label counts."""
    tokenizer = getattr(datamodule, "tokenizer", None)
    source = getattr(datamodule, "source_tokenizer", None)
    return TaskData(
        token_strings=getattr(tokenizer, "token_strings", None),
        char_level=getattr(tokenizer, "kind", None) == "char",
        chars_per_token=getattr(datamodule, "chars_per_token", {}),
        detokenize=getattr(datamodule, "detokenize", None),
        detokenize_source=getattr(source, "detokenize", None),
        alphabet=getattr(datamodule, "alphabet", None),
        label_counts=getattr(datamodule, "label_counts", None),
    )


def hand_data(task: Any, datamodule: Any) -> None:
    """Give ``task`` (any seqlab task: it has a ``data`` attribute) what it uses of ``datamodule``."""
    if hasattr(task, "data"):
        task.data = task_data(datamodule)
