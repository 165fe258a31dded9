"""CTC prefix beam search (Hannun et al. 2014) over a whole batch at once: every utterance's beams and
every label extension of them are tensors, so a frame costs a few dozen tensor operations rather than
beams x labels Python steps.

It keeps the rules (and the tie order) of the one-prefix-at-a-time formulation: at each frame every
prefix ``p`` (with log-probabilities of its paths ending in blank and in its last label) yields itself
(a blank, or its last label repeated) and ``p + v`` for every label ``v`` (after its own last label only
from a blank-ending path); entries for the same prefix add up; the ``beam_size`` most probable survive,
equal scores in the order the entries were first made (prefixes in beam order, each itself before its
extensions by increasing label). Scores are float64 from the float32 log-probabilities.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqlab.nn.threads import one_thread

NEG_INF = float("-inf")

# A bonus hook for prefix beam search: ``scorer(prefix, label)`` is added (in log space) to the
# probability of extending ``prefix`` by ``label``, e.g. ``weight * log P_lm(label | prefix) + bonus``.
PrefixScorer = Callable[[tuple[int, ...], int], float]


def _logaddexp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(exp(a) + exp(b)), exact where one side is -inf (both: -inf). Differences below -650 are
    raised to it: exp of them (and of -inf) takes a slow path (up to 1000x) for a term of 1e-283 or
    less, which adds nothing to the larger side (unless that is within 1e-266 of 0)."""
    high, low = torch.maximum(a, b), torch.minimum(a, b)
    gap = (low - high).clamp(min=-650.0)
    return torch.where(low == NEG_INF, high, high + torch.log1p(torch.exp(gap)))


class _Beams:
    """Each utterance's prefixes, K slots [B, K] (``valid`` False: an empty slot)."""

    def __init__(self, batch: int) -> None:
        self.p_blank = torch.zeros(batch, 1, dtype=torch.float64)  # paths ending in blank
        self.p_label = torch.full((batch, 1), NEG_INF, dtype=torch.float64)  # ending in the last label
        self.valid = torch.ones(batch, 1, dtype=torch.bool)
        self.last = torch.full((batch, 1), -1, dtype=torch.long)  # -1: the empty prefix
        self.size = torch.zeros(batch, 1, dtype=torch.long)
        self.tokens = torch.full((batch, 1, 1), -1, dtype=torch.long)  # [B, K, L], -1 after the prefix

    def widen(self, k: int) -> None:
        """At least ``k`` slots, the new ones empty."""
        extra = k - self.valid.size(1)
        if extra <= 0:
            return
        b, length = self.valid.size(0), self.tokens.size(2)
        self.p_blank = torch.cat([self.p_blank, self.p_blank.new_full((b, extra), NEG_INF)], 1)
        self.p_label = torch.cat([self.p_label, self.p_label.new_full((b, extra), NEG_INF)], 1)
        self.valid = torch.cat([self.valid, self.valid.new_zeros(b, extra)], 1)
        self.last = torch.cat([self.last, self.last.new_full((b, extra), -1)], 1)
        self.size = torch.cat([self.size, self.size.new_zeros(b, extra)], 1)
        self.tokens = torch.cat([self.tokens, self.tokens.new_full((b, extra, length), -1)], 1)

    def make_room(self) -> None:
        """Room in ``tokens`` for one more label after the longest prefix (doubling, so rarely)."""
        if int(self.size.max()) + 1 >= self.tokens.size(2):
            self.tokens = F.pad(self.tokens, (0, self.tokens.size(2)), value=-1)

    def prefixes(self) -> list[list[tuple[int, ...]]]:
        return [
            [tuple(row[:n]) for row, n in zip(rows, sizes, strict=True)]
            for rows, sizes in zip(self.tokens.tolist(), self.size.tolist(), strict=True)
        ]


def _scorer_bonus(
    beams: _Beams, allowed: torch.Tensor, labels: torch.Tensor, scorer: PrefixScorer
) -> torch.Tensor:
    """[B, K, C] the scorer's bonus for every allowed extension by ``labels`` [C] (0 elsewhere)."""
    bonus = torch.zeros(allowed.shape, dtype=torch.float64)
    prefixes, ids = beams.prefixes(), labels.tolist()
    for b, k, c in allowed.nonzero().tolist():
        bonus[b, k, c] = scorer(prefixes[b][k], ids[c])
    return bonus


def _parent_slots(beams: _Beams) -> tuple[torch.Tensor, torch.Tensor]:
    """For each slot j [B, K]: the slot holding its prefix minus the last label, and whether there is one."""
    cut = beams.tokens.clone()
    cut.scatter_(2, (beams.size - 1).clamp(min=0)[..., None], -1)
    same = (cut[:, :, None, :] == beams.tokens[:, None, :, :]).all(-1)  # [B, J, K]
    same &= beams.valid[:, :, None] & beams.valid[:, None, :] & (beams.size > 0)[:, :, None]
    return same.long().argmax(-1), same.any(-1)


def _frame(
    beams: _Beams,
    frame: torch.Tensor,
    beam_size: int,
    blank: int,
    prune: float | None,
    scorer: PrefixScorer | None,
) -> _Beams:
    """The beams after one frame [B, V] of log-probabilities."""
    batch, k = beams.valid.shape
    width = frame.size(1) + 1  # entry order: per slot, itself then its extensions by label
    # Extensions only by the labels some utterance may take at this frame (all but the blank unpruned).
    possible = torch.arange(frame.size(1)) != blank
    if prune is not None:
        possible &= (frame >= prune).any(0)
    labels = possible.nonzero().squeeze(1)  # [C] label ids
    vocab = labels.numel()
    column = torch.full((width,), -1, dtype=torch.long)  # label id -> its column in ``labels`` (or -1)
    column[labels] = torch.arange(vocab)
    total = _logaddexp(beams.p_blank, beams.p_label)
    # Each prefix itself: a blank, or its last label repeated without a blank.
    stay_blank = total + frame[:, blank : blank + 1]
    last_lp = frame.gather(1, beams.last.clamp(min=0))
    stay_label = torch.where(beams.last >= 0, beams.p_label + last_lp, NEG_INF)
    # Each prefix + v: after its own last label only from a blank-ending path.
    label_lp = frame[:, labels]
    is_last = labels[None, None, :] == beams.last[..., None]
    source = torch.where(is_last, beams.p_blank[..., None], total[..., None])
    allowed = beams.valid[..., None] & (source != NEG_INF)
    if prune is not None:
        allowed &= (label_lp >= prune)[:, None, :]
    gain = source + label_lp[:, None, :]
    if scorer is not None:
        gain = gain + _scorer_bonus(beams, allowed, labels, scorer)
    # An extension that is already a beam adds to that beam's entry, made at the earlier of the two.
    parent, has_parent = _parent_slots(beams)
    last_column = column[beams.last.clamp(min=0)]
    flat = parent * vocab + last_column.clamp(min=0)
    merges = has_parent & (last_column >= 0)
    if vocab:
        merges &= allowed.view(batch, -1).gather(1, flat)
        merged_gain = gain.view(batch, -1).gather(1, flat)
        stay_label = torch.where(merges, _logaddexp(stay_label, merged_gain), stay_label)
    merged = torch.zeros(batch, k * vocab + 1, dtype=torch.bool)  # the last column takes the non-merges
    merged.scatter_(1, torch.where(merges, flat, k * vocab), True)
    extend_ok = allowed.view(batch, -1) & ~merged[:, :-1]
    slots = torch.arange(k)
    stay_order = slots[None, :].expand(batch, k) * width
    stay_order = torch.where(merges, torch.minimum(stay_order, parent * width + 1 + beams.last), stay_order)
    extend_order = (slots[:, None] * width + 1 + labels[None, :]).flatten().expand(batch, -1)
    # Rank every entry: by score, equal scores in the order they were made; empty ones last.
    p_blank = torch.cat([stay_blank, torch.full((batch, k * vocab), NEG_INF, dtype=torch.float64)], 1)
    p_label = torch.cat([stay_label, gain.view(batch, -1)], 1)
    valid = torch.cat([beams.valid, extend_ok], 1)
    order = torch.cat([stay_order, extend_order], 1).masked_fill(~valid, k * width)
    score = _logaddexp(p_blank, p_label).masked_fill(~valid, NEG_INF)
    by_order = order.argsort(dim=1, stable=True)
    ranked = by_order.gather(1, score.gather(1, by_order).argsort(dim=1, descending=True, stable=True))
    kept = min(beam_size, int(valid.sum(1).max()))
    pick = ranked[:, :kept]
    from_slot = torch.cat([slots.expand(batch, k), slots.repeat_interleave(vocab).expand(batch, -1)], 1)
    label = torch.cat([torch.full((batch, k), -1), labels.repeat(k).expand(batch, -1)], 1).gather(1, pick)
    slot = from_slot.gather(1, pick)
    new = _Beams.__new__(_Beams)
    new.p_blank, new.p_label = p_blank.gather(1, pick), p_label.gather(1, pick)
    new.valid = valid.gather(1, pick)
    size = beams.size.gather(1, slot)
    new.tokens = beams.tokens.gather(1, slot[..., None].expand(-1, -1, beams.tokens.size(2)))
    new.tokens.scatter_(2, size[..., None], label[..., None])  # a stay writes -1 over -1
    new.size = size + (label >= 0).long()
    new.last = torch.where(label >= 0, label, beams.last.gather(1, slot))
    return new


def _keep_where(active: torch.Tensor, new: _Beams, old: _Beams) -> _Beams:
    """``new`` for the utterances still ``active`` [B], ``old`` for the others (whose valid slots come
    first and are never more than ``new`` has)."""
    old.widen(new.valid.size(1))
    k, rows = new.valid.size(1), active[:, None]
    for name in ("p_blank", "p_label", "valid", "last", "size"):
        setattr(new, name, torch.where(rows, getattr(new, name), getattr(old, name)[:, :k]))
    new.tokens = torch.where(rows[..., None], new.tokens, old.tokens[:, :k])
    return new


def ctc_prefix_beam_search_batch(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | None = None,
    beam_size: int = 8,
    blank: int = 0,
    n_best: int = 1,
    prune: float | None = None,
    scorer: PrefixScorer | None = None,
) -> list[list[tuple[list[int], float]]]:
    """The ``n_best`` most probable labellings of every utterance of [B, T, V] log-probabilities (up to
    its ``lengths``), best first, as (labels, log-score); see ``seqlab.nn.ctc.ctc_prefix_beam_search``
    for ``prune`` and ``scorer`` (a Python callable, so with one each frame calls it per extension)."""
    if beam_size < 1 or n_best < 1:
        raise ValueError(f"beam_size and n_best must be >= 1, got {beam_size} and {n_best}")
    with one_thread():
        return _search(log_probs, lengths, beam_size, blank, n_best, prune, scorer)


def _search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | None,
    beam_size: int,
    blank: int,
    n_best: int,
    prune: float | None,
    scorer: PrefixScorer | None,
) -> list[list[tuple[list[int], float]]]:
    lp = log_probs.detach().float().cpu().double()
    batch, frames, _ = lp.shape
    lengths = torch.full((batch,), frames) if lengths is None else lengths.detach().cpu().long()
    beams = _Beams(batch)
    for t in range(int(lengths.max()) if batch else 0):
        active = lengths > t
        beams.make_room()
        new = _frame(beams, lp[:, t], beam_size, blank, prune, scorer)
        beams = new if bool(active.all()) else _keep_where(active, new, beams)
    score = _logaddexp(beams.p_blank, beams.p_label)
    final = getattr(scorer, "final", None)  # a scorer may also score ending here (a word list does)
    prefixes = beams.prefixes()
    if final is not None:
        bonus = [
            [final(p) if ok else 0.0 for p, ok in zip(row, v, strict=True)]
            for row, v in zip(prefixes, beams.valid.tolist(), strict=True)
        ]
        score = score + torch.tensor(bonus, dtype=torch.float64)
    score = score.masked_fill(~beams.valid, NEG_INF)
    ranked = score.argsort(dim=1, descending=True, stable=True).tolist()
    scores, valid = score.tolist(), beams.valid.tolist()
    return [
        [(list(prefixes[b][j]), scores[b][j]) for j in ranked[b] if valid[b][j]][:n_best]
        for b in range(batch)
    ]
