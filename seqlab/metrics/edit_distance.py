"""Edit-distance metrics for sequence-to-sequence outputs: phoneme and item error rates for G2P
(against the closest of several references; G2P calls the item error rate its word error rate) and
character and word error rates for speech (as ``jiwer`` computes them), with Levenshtein distances
from the ``editdistance`` C implementation.

Rates are corpus-level: total edits over total reference length, not a mean of per-item ratios
(which would let a 2-phone word weigh as much as a 15-phone one). Counts stream item by item in
``EditCounts`` and add up, so scores over a whole epoch (and across DDP ranks, via
``counts_tensor``) equal those computed on all the items at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import editdistance
import torch


def closest_reference_errors(
    hypothesis: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[int, int]:
    """(edits, reference length) against the closest reference: the fewest edits, and among equally
    close references the shortest, so a tie never lowers the error rate (the conservative choice) and
    the result does not depend on the order of the references.

    Sequences are compared item by item: pass token lists (a string is a sequence of characters).
    """
    if len(references) == 0:
        raise ValueError("no references; expected at least one per item")
    return min((editdistance.eval(hypothesis, reference), len(reference)) for reference in references)


def _ratio(edits: int, length: int) -> float:
    if length:
        return edits / length
    return 0.0 if edits == 0 else math.inf  # edits against empty references only


@dataclass
class EditCounts:
    """Edit counts summed over items: ``edits`` and ``reference_length`` against each item's closest
    reference, ``items`` scored, and ``exact`` items equal to one of their references."""

    edits: int = 0
    reference_length: int = 0
    items: int = 0
    exact: int = 0

    def update(self, hypothesis: Sequence[str], references: Sequence[Sequence[str]]) -> None:
        """Add one item: a hypothesis and its references (token sequences)."""
        edits, length = closest_reference_errors(hypothesis, references)
        self.edits += edits
        self.reference_length += length
        self.items += 1
        self.exact += int(edits == 0)

    @classmethod
    def from_items(
        cls, hypotheses: Iterable[Sequence[str]], references: Iterable[Sequence[Sequence[str]]]
    ) -> EditCounts:
        """Counts over a corpus: hypotheses and, item by item, their references."""
        hypotheses, references = list(hypotheses), list(references)
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but references for {len(references)} items")
        counts = cls()
        for hypothesis, refs in zip(hypotheses, references, strict=True):
            counts.update(hypothesis, refs)
        return counts

    def error_rate(self) -> float:
        """Total edits over total reference length: PER, CER or WER by what the tokens are (0.0 for
        no items; infinite when there are edits but every reference was empty)."""
        return _ratio(self.edits, self.reference_length)

    def item_error_rate(self) -> float:
        """The share of items matching none of their references (G2P's word error rate)."""
        return (self.items - self.exact) / self.items if self.items else 0.0

    def merge(self, other: EditCounts) -> EditCounts:
        """A new ``EditCounts`` with both counts summed (neither input changes)."""
        return EditCounts(
            self.edits + other.edits,
            self.reference_length + other.reference_length,
            self.items + other.items,
            self.exact + other.exact,
        )

    def __add__(self, other: EditCounts) -> EditCounts:
        if not isinstance(other, EditCounts):
            return NotImplemented
        return self.merge(other)

    def counts_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The counts as an int64 tensor (edits, reference length, items, exact), for summing across
        ranks (``all_reduce``) and reading back with ``from_tensor``."""
        return torch.tensor(
            [self.edits, self.reference_length, self.items, self.exact], dtype=torch.int64, device=device
        )

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> EditCounts:
        """The inverse of ``counts_tensor``."""
        if tensor.shape != (4,):
            raise ValueError(f"expected a (4,) counts tensor, got {tuple(tensor.shape)}")
        return cls(*(int(value) for value in tensor.detach().cpu().tolist()))


def _tokens(sequence: str | Sequence[str]) -> Sequence[str]:
    return sequence.split() if isinstance(sequence, str) else sequence


def _g2p_counts(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[Sequence[str | Sequence[str]]]
) -> EditCounts:
    return EditCounts.from_items(
        (_tokens(h) for h in hypotheses), ([_tokens(r) for r in refs] for refs in references)
    )


def phoneme_error_rate(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[Sequence[str | Sequence[str]]]
) -> float:
    """Total phone edits over total reference length, each item against its closest reference.

    Hypotheses and references are phone lists, or strings of space-separated phones as G2P targets
    are written (``"R EH K ER D"``); ``references[i]`` holds item ``i``'s references.
    """
    return _g2p_counts(hypotheses, references).error_rate()


def item_error_rate(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[Sequence[str | Sequence[str]]]
) -> float:
    """The share of items equal to none of their references: what G2P calls its word error rate (a word
    whose predicted pronunciation is wrong), logged as ``val/wer``; arguments as for
    ``phoneme_error_rate``. Speech's word error rate (word edits) is ``word_error_rate``."""
    return _g2p_counts(hypotheses, references).item_error_rate()


def _text_counts(hypotheses: Sequence[str], references: Sequence[str], words: bool) -> EditCounts:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    counts = EditCounts()
    for index, (hypothesis, reference) in enumerate(zip(hypotheses, references, strict=True)):
        if not reference.strip():
            raise ValueError(f"reference {index} is empty; error rates need non-empty references (as jiwer)")
        if words:
            counts.update(hypothesis.split(), [reference.split()])
        else:
            counts.update(hypothesis.strip(), [reference.strip()])
    return counts


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Character edits over reference characters, corpus-level, as ``jiwer.cer``: texts are stripped
    of leading and trailing whitespace, inner spaces count as characters."""
    return _text_counts(hypotheses, references, words=False).error_rate()


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Word edits over reference words, corpus-level, as ``jiwer.wer``: words are split on whitespace."""
    return _text_counts(hypotheses, references, words=True).error_rate()
