"""The one data summary every DataModule prints when its data is built: examples per split, vocabulary
and label set with their sizes, length percentiles, and what was dropped or cut and why.

One line, so that a user sees at the start of a run what the model will be trained on (a
sentencepiece vocabulary smaller than asked for, a split that lost half its pairs to a length limit)
before the first step, and a log can be searched for it (``data:``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from lightning.pytorch.utilities import rank_zero_info


def vocabulary(tokenizer: Any, name: str = "vocabulary") -> str:
    """``vocabulary 8000`` or, for a learned vocabulary smaller than asked for (sentencepiece on
    little text), ``vocabulary 213 (8000 asked)``."""
    size = tokenizer.vocab_size
    asked = getattr(tokenizer, "requested_size", None)
    # The class a config named (jsonargparse's lazy_instance defaults are subclasses named LazyInstance_*).
    named = next(
        c for c in type(tokenizer).__mro__ if not c.__name__.startswith(("LazyInstance_", "_LazyInit"))
    )
    kind = {"char": "characters", "word": "words"}.get(named.__name__.removesuffix("Tokenizer").lower())
    kind = kind or named.__name__.removesuffix("Tokenizer").lower()
    note = f"; {asked} asked" if asked is not None and asked != size else ""
    return f"{name} {size} ({kind}{note})"


def labels(names: Sequence[str], what: str = "labels", shown: int = 6) -> str:
    """``2 labels (animal, thing)``; the first ``shown`` of a longer set."""
    more = ", ..." if len(names) > shown else ""
    return f"{len(names)} {what} ({', '.join(names[:shown])}{more})"


def lengths(values: Sequence[int], unit: str) -> str:
    """``tokens per text p50 5, p95 9, max 12`` (nothing for no values)."""
    if not values:
        return ""
    p50, p95 = np.percentile(np.asarray(values), [50, 95])
    return f"{unit} p50 {p50:g}, p95 {p95:g}, max {max(values)}"


def data_summary(
    problem: str, counts: Mapping[str, int], unit: str, parts: Sequence[str], dropped: Sequence[str] = ()
) -> str:
    """``{problem} data: train 40, validation 12 {unit}; PART; PART; dropped: ...`` (``none`` dropped
    when nothing was)."""
    splits = ", ".join(f"{split} {n:,}" for split, n in counts.items())
    shown = [f"{splits} {unit}", *(part for part in parts if part)]
    shown.append(f"dropped: {'; '.join(dropped) if dropped else 'none'}")
    return f"{problem} data: {'; '.join(shown)}"


def print_summary(line: str) -> None:
    """Print the summary once, on the first process."""
    rank_zero_info(line)
