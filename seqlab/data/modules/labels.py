"""The label set of a classification or labelling task: built from the training split only, saved with
the model, and strict at evaluation time (a label the model never saw is an error, never remapped)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from seqlab.data.errors import DataError


def _order(label: str) -> tuple[int, int, str]:
    """Integer labels sort numerically ("2" before "10"), everything else alphabetically after them."""
    if re.fullmatch(r"-?[0-9]+", label):
        return (0, int(label), label)
    return (1, 0, label)


class LabelSet:
    """An ordered set of string labels; id ``i`` is ``labels[i]``.

    Args:
        labels: the labels in id order.
        what: what the labels are called in error messages ("label", "tag").
    """

    def __init__(self, labels: Iterable[str], what: str = "label") -> None:
        self.labels = list(labels)
        self.what = what
        self._ids = {label: i for i, label in enumerate(self.labels)}
        if len(self._ids) != len(self.labels):
            raise ValueError(f"duplicate {what}s in {self.labels}")

    @classmethod
    def fit(cls, labels: Iterable[str], what: str = "label") -> LabelSet:
        """The sorted set of labels seen in training (at least two, or there is nothing to learn)."""
        seen = sorted(set(labels), key=_order)
        if len(seen) < 2:
            raise DataError(f"the training split has {len(seen)} distinct {what}(s) {seen}; need at least 2")
        return cls(seen, what)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self._ids

    def encode(self, label: str, where: str = "") -> int:
        """The id of ``label``; an unseen label raises a DataError naming ``where`` it came from."""
        try:
            return self._ids[label]
        except KeyError:
            shown = ", ".join(repr(x) for x in self.labels[:20]) + (", ..." if len(self) > 20 else "")
            prefix = f"{where}: " if where else ""
            raise DataError(
                f"{prefix}{self.what} {label!r} does not occur in the training split, so the model cannot "
                f"predict it (known {self.what}s: {shown})"
            ) from None

    def label(self, index: int) -> str:
        """The label of id ``index``."""
        return self.labels[index]

    def counts(self, labels: Iterable[str]) -> list[int]:
        """How often each label occurs in ``labels``, in id order (for class weights)."""
        counter = Counter(labels)
        return [counter.get(label, 0) for label in self.labels]
