"""Span precision, recall and F1 for BIO and BIOES tags, as ``seqeval.metrics`` computes them.

The chunking is seqeval's default (non-strict) one: a span starts at B- or S-, or at an I- or E-
that continues no span (after O, after a finished span, or after a different type); it goes on
through I- and E- of its type after B- or I-, and ends before anything else. A span is correct when
its type, start and end all match. Counts stream sentence by sentence and add up, so scores over a
whole epoch (and across DDP ranks, via ``counts_tensor``) equal seqeval's on all the sentences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

OUTSIDE = "O"
_PREFIXES = frozenset("BIES")


def _split_tag(tag: str) -> tuple[str, str] | None:
    """(prefix, type) of ``O`` or ``X-TYPE``/``X`` with X in BIES (type "_" when empty, as seqeval)."""
    if tag == OUTSIDE:
        return OUTSIDE, "_"
    if tag[:1] in _PREFIXES and (len(tag) == 1 or tag[1] == "-"):
        return tag[0], tag[2:] or "_"
    return None


def tag_scheme(tags: Iterable[str]) -> Literal["BIO", "BIOES"] | None:
    """The span scheme of a tag set: ``BIOES`` if any tag is E- or S-, ``BIO`` if all are O/B-/I-.

    ``None`` when some tag is not O or prefixed (POS tags, stress digits) or when all are ``O``:
    span metrics mean nothing for such a tag set.
    """
    prefixes = set()
    for tag in tags:
        parts = _split_tag(tag)
        if parts is None:
            return None
        prefixes.add(parts[0])
    prefixes.discard(OUTSIDE)
    if not prefixes:
        return None
    return "BIOES" if prefixes & {"E", "S"} else "BIO"


def extract_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The (type, start, end exclusive) spans of one sentence, chunked as ``seqeval``'s get_entities.

    Raises ValueError for a tag that is neither ``O`` nor B-/I-/E-/S- prefixed.
    """
    spans: list[tuple[str, int, int]] = []
    open_type, open_start = None, 0
    prev_prefix, prev_type = OUTSIDE, "_"
    for i, tag in enumerate(tags):
        parts = _split_tag(tag)
        if parts is None:
            raise ValueError(f"tag {tag!r} at position {i} is not 'O' or a B-/I-/E-/S- tag")
        prefix, type_ = parts
        continues = prev_prefix in ("B", "I") and prefix in ("I", "E") and type_ == prev_type
        if not continues:
            if open_type is not None:
                spans.append((open_type, open_start, i))
                open_type = None
            if prefix != OUTSIDE:
                open_type, open_start = type_, i
        prev_prefix, prev_type = prefix, type_
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans


def to_iob2(tags: Sequence[str]) -> list[str]:
    """BIO tags rewritten so every span starts with B- (IOB1 files, such as the original CoNLL-2003,
    start a span with I- unless it follows one of the same type). The spans, as read here and by
    seqeval, stay the same; only IOB2 fits the transition constraints of a CRF."""
    out = [OUTSIDE] * len(tags)
    for kind, start, end in extract_spans(tags):
        out[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    return out


def span_types(tags: Iterable[str]) -> list[str]:
    """The sorted span types of a tag vocabulary (the ``types`` for ``SpanCounts.counts_tensor``)."""
    return sorted({parts[1] for tag in tags if (parts := _split_tag(tag)) and parts[0] != OUTSIDE})


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0  # seqeval's zero_division default


def _prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision, recall = _ratio(true_positives, predicted), _ratio(true_positives, gold)
    denominator = precision + recall
    # The same operations in the same order as seqeval, so the floats agree to the last bit.
    f1 = 2 * precision * recall / denominator if denominator else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass
class SpanCounts:
    """Exact-span match counts, summed over sentences: micro totals and the same per span type."""

    true_positives: int = 0
    predicted: int = 0
    gold: int = 0
    true_positives_by_type: Counter[str] = field(default_factory=Counter)
    predicted_by_type: Counter[str] = field(default_factory=Counter)
    gold_by_type: Counter[str] = field(default_factory=Counter)

    def update(self, gold_tags: Sequence[str], pred_tags: Sequence[str]) -> None:
        """Add one sentence's gold and predicted tags (equal lengths)."""
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"gold has {len(gold_tags)} tags but prediction has {len(pred_tags)}")
        gold, predicted = set(extract_spans(gold_tags)), set(extract_spans(pred_tags))
        matched = gold & predicted
        self.true_positives += len(matched)
        self.predicted += len(predicted)
        self.gold += len(gold)
        self.true_positives_by_type.update(span[0] for span in matched)
        self.predicted_by_type.update(span[0] for span in predicted)
        self.gold_by_type.update(span[0] for span in gold)

    @classmethod
    def from_sequences(cls, gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]) -> SpanCounts:
        """Counts over whole corpora of sentences, like seqeval's ``y_true``/``y_pred``."""
        counts = cls()
        gold, pred = list(gold), list(pred)
        if len(gold) != len(pred):
            raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted ones")
        for gold_tags, pred_tags in zip(gold, pred, strict=True):
            counts.update(gold_tags, pred_tags)
        return counts

    def merge(self, other: SpanCounts) -> SpanCounts:
        """A new ``SpanCounts`` with both counts summed (neither input changes)."""
        return SpanCounts(
            self.true_positives + other.true_positives,
            self.predicted + other.predicted,
            self.gold + other.gold,
            self.true_positives_by_type + other.true_positives_by_type,
            self.predicted_by_type + other.predicted_by_type,
            self.gold_by_type + other.gold_by_type,
        )

    def __add__(self, other: SpanCounts) -> SpanCounts:
        if not isinstance(other, SpanCounts):
            return NotImplemented
        return self.merge(other)

    def types(self) -> list[str]:
        """Span types seen in gold or predictions, sorted (as seqeval's per-type report)."""
        return sorted(set(self.gold_by_type) | set(self.predicted_by_type))

    def scores(self) -> dict:
        """Micro ``precision``, ``recall``, ``f1`` (0.0 where a denominator is 0, as seqeval) and
        ``per_type``: type -> precision, recall, f1 and support (gold spans of that type).
        """
        out: dict = _prf(self.true_positives, self.predicted, self.gold)
        out["per_type"] = {
            t: {
                **_prf(self.true_positives_by_type[t], self.predicted_by_type[t], self.gold_by_type[t]),
                "support": self.gold_by_type[t],
            }
            for t in self.types()
        }
        return out

    def counts_tensor(
        self, types: Sequence[str] = (), device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Counts as an int64 tensor of rows (true positives, predicted, gold), for summing across
        ranks: row 0 holds the micro totals, row ``1 + k`` type ``types[k]`` (pass the same types,
        e.g. ``span_types`` of the tag vocabulary, on every rank).
        """
        missing = sorted(set(self.types()) - set(types)) if types else []
        if missing:
            raise ValueError(f"span types {missing} were counted but are not in `types` {list(types)}")
        rows = [[self.true_positives, self.predicted, self.gold]]
        rows += [[counter[t] for counter in self._by_type()] for t in types]
        return torch.tensor(rows, dtype=torch.int64, device=device)

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor, types: Sequence[str] = ()) -> SpanCounts:
        """The inverse of ``counts_tensor`` (types whose counts are all zero are left out)."""
        if tensor.shape != (1 + len(types), 3):
            raise ValueError(f"expected a ({1 + len(types)}, 3) counts tensor, got {tuple(tensor.shape)}")
        rows = tensor.detach().cpu().tolist()
        counts = cls(*rows[0])
        for t, row in zip(types, rows[1:], strict=True):
            for counter, value in zip(counts._by_type(), row, strict=True):
                if value:
                    counter[t] = value
        return counts

    def _by_type(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        return self.true_positives_by_type, self.predicted_by_type, self.gold_by_type
