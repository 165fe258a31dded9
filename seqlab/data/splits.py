"""Deterministic train/validation/test splits: seeded SHA-256 hashes of a key (a word, a text), so the
same key lands in the same split in every process and Python version (``hash()`` varies per process)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from seqlab.data.errors import DataError

T = TypeVar("T")
SPLITS = ("train", "validation", "test")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Refuse anything but three finite non-negative train/validation/test shares summing to 1."""
    values = list(fractions)
    if (
        len(values) != 3
        or not all(isinstance(f, (int, float)) and math.isfinite(f) and f >= 0 for f in values)
        or abs(sum(values) - 1) > 1e-6
    ):
        raise DataError(f"fractions must be three non-negative numbers summing to 1, got {values}")
    return values[0], values[1], values[2]


def hash_unit(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by ``seed`` and ``key``."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def subset_key(key: str, seed: int) -> bytes:
    """A sort key for a seeded subset (``max_words``), independent of the split hash: taking the
    smallest split hashes would fill only ``train``."""
    return hashlib.sha256(f"{seed}:subset:{key}".encode()).digest()


def hashed_split(key: str, seed: int, fractions: Sequence[float]) -> str:
    """The split (``train``, ``validation`` or ``test``) of ``key`` under ``fractions``."""
    u = hash_unit(key, seed)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "validation"
    return "test"


def holdout(
    examples: Sequence[T], fraction: float, seed: int, key: Callable[[T], str]
) -> tuple[list[T], list[T]]:
    """Split ``examples`` into (kept, held out) by ``key``; equal keys always land on the same side."""
    if not 0 < fraction < 1:
        raise DataError(f"validation_fraction must be between 0 and 1, got {fraction}")
    kept, held = [], []
    for example in examples:
        (held if hash_unit(key(example), seed) < fraction else kept).append(example)
    if not kept or not held:
        raise DataError(
            f"holding out {fraction:.0%} of {len(examples)} training examples for validation left "
            "one side empty; give a validation file or more data"
        )
    return kept, held


def with_validation(
    splits: dict[str, list[T]], fraction: float, seed: int, key: Callable[[T], str]
) -> dict[str, list[T]]:
    """``splits`` with a validation split: the given one, else ``fraction`` of train held out by ``key``."""
    if "validation" not in splits:
        splits["train"], splits["validation"] = holdout(splits["train"], fraction, seed, key)
    return splits
