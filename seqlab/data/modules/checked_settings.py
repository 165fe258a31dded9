"""Range checks of a DataModule's numeric settings, made where the DataModule is built.

jsonargparse checks types (``--data.batch_size abc`` is refused while parsing) but not ranges: a
``batch_size`` of -3 would otherwise surface as a ``ValueError`` deep in batching, after the corpus
was read. :class:`DataSettingError` names the key as a config writes it (``data.batch_size``); the
engine shows it as the user wrote it (``--data.batch_size`` on the command line).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from seqlab.data.errors import DataError

T = TypeVar("T")


class DataSettingError(DataError):
    """A data setting out of range: ``key`` (``data.batch_size``), the ``value`` given, what was
    ``expected``."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(f"{key} {value!r}: expected {expected}")


def whole_number(key: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    """Refuse ``value`` unless it is an int ``>= minimum`` (or ``None`` where ``optional``)."""
    if value is None and optional:
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not whole or value < minimum:
        kind = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
        raise DataSettingError(key, value, f"{kind}{' or null' if optional else ''}")


def positive_number(key: str, value: Any) -> None:
    """Refuse ``value`` unless it is a finite number above 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise DataSettingError(key, value, "a number above 0")


def fraction(key: str, value: Any) -> None:
    """Refuse ``value`` unless it is a number from 0 to 1."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 <= value <= 1:
        raise DataSettingError(key, value, "a number from 0 to 1")


def speeds(key: str, value: Any) -> list[float]:
    """``value`` as a list of playback speeds other than 1 (the original, always used), each from 0.5
    to 2, none twice."""
    items = value if isinstance(value, list) else [value]
    for speed in items:
        number = isinstance(speed, (int, float)) and not isinstance(speed, bool)
        if not number or not 0.5 <= speed <= 2 or speed == 1:
            raise DataSettingError(key, value, "a list of speeds from 0.5 to 2 other than 1 (always used)")
    if len(set(items)) != len(items):
        raise DataSettingError(key, value, "each speed once")
    return [float(speed) for speed in items]


def batching(batch_size: Any, eval_batch_size: Any, num_workers: Any) -> None:
    """The batching settings every DataModule has (``seq_len`` and the like are the caller's)."""
    whole_number("data.batch_size", batch_size)
    whole_number("data.eval_batch_size", eval_batch_size, optional=True)
    whole_number("data.num_workers", num_workers, minimum=0)


def without_sampling(key: str, tokenizer: Any) -> None:
    """Refuse a sampling tokenizer (subword regularization) in a DataModule that encodes its training
    data once: it would be silently ignored there."""
    if getattr(tokenizer, "samples", False):
        raise DataSettingError(
            f"{key}.sampling_alpha",
            tokenizer.sampling_alpha,
            "null: only ClassificationData and TransductionData segment their training texts anew each epoch",
        )


def training_origin(source: Any) -> str:
    """What a source's training split was read from, for messages: ``train.tsv``, or its class."""
    files = getattr(source, "splits", None) or getattr(source, "files", None)
    train = files.get("train") if isinstance(files, dict) else None
    if isinstance(train, (list, tuple)):
        train = " + ".join(map(str, train))
    return f"the training file {train}" if train else f"the training split of {type(source).__name__}"


def fitted(key: str, origin: str, fit: Callable[[], T], names: dict[str, str] | None = None) -> T:
    """``fit()`` of a tokenizer; a setting it refuses (a ``DataSettingError`` keyed by its own
    argument, ``vocab_size``) is re-raised under the key the DataModule gives the tokenizer
    (``data.source_tokenizer.vocab_size``; ``names`` renames an argument the DataModule spells
    differently), saying which training data it was fitted on."""
    try:
        return fit()
    except DataSettingError as err:
        if err.key.startswith("data."):
            raise
        name = (names or {}).get(err.key, err.key)
        raise DataSettingError(f"{key}.{name}", err.value, f"{err.expected}; fitted on {origin}") from None
