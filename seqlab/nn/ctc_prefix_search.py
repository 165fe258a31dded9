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


# Prefix keys: a polynomial hash of the labels (mod a prime below 2**31, so products fit in int64).
# Equal keys only nominate a slot as a prefix's parent; the labels themselves confirm it.
_KEY_BASE, _KEY_MOD = 1_000_003, 2_147_483_647


class _Beams:
    """Each utterance's prefixes, K slots [B, K] (``valid`` False: an empty slot)."""

    def __init__(self, batch: int) -> None:
        self.p_blank = torch.zeros(batch, 1, dtype=torch.float64)  # paths ending in blank
        self.p_label = torch.full((batch, 1), NEG_INF, dtype=torch.float64)  # ending in the last label
        self.valid = torch.ones(batch, 1, dtype=torch.bool)
        self.last = torch.full((batch, 1), -1, dtype=torch.long)  # -1: the empty prefix
        self.size = torch.zeros(batch, 1, dtype=torch.long)
        self.tokens = torch.full((batch, 1, 1), -1, dtype=torch.long)  # [B, K, L], -1 after the prefix
        self.key = torch.zeros(batch, 1, dtype=torch.long)  # the prefix's key (the empty one: 0)
        self.parent_key = torch.full((batch, 1), -1, dtype=torch.long)  # without its last label

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
        self.key = torch.cat([self.key, self.key.new_zeros(b, extra)], 1)
        self.parent_key = torch.cat([self.parent_key, self.parent_key.new_full((b, extra), -1)], 1)

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


def _without_last(beams: _Beams) -> torch.Tensor:
    cut = beams.tokens.clone()
    cut.scatter_(2, (beams.size - 1).clamp(min=0)[..., None], -1)
    return cut


def _parent_slots(beams: _Beams) -> tuple[torch.Tensor, torch.Tensor]:
    """For each slot j [B, K]: the slot holding its prefix minus the last label, and whether there is one.
    Keys nominate the slot and its labels confirm it; where two slots share a key (a hash collision)
    every pair of slots is compared label by label."""
    live = beams.valid[:, :, None] & beams.valid[:, None, :] & (beams.size > 0)[:, :, None]
    same = (beams.parent_key[:, :, None] == beams.key[:, None, :]) & live  # [B, J, K]
    cut = _without_last(beams)
    if bool((same.sum(-1) > 1).any()):
        same = (cut[:, :, None, :] == beams.tokens[:, None, :, :]).all(-1) & live
        return same.long().argmax(-1), same.any(-1)
    parent = same.long().argmax(-1)
    found = beams.tokens.gather(1, parent[..., None].expand(-1, -1, beams.tokens.size(2)))
    return parent, same.any(-1) & (found == cut).all(-1)


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
    # Extensions only by the labels some utterance may take at this frame (all but the blank unpruned).
    possible = torch.arange(frame.size(1)) != blank
    if prune is not None:
        possible &= (frame >= prune).any(0)
    labels = possible.nonzero().squeeze(1)  # [C] label ids
    vocab = labels.numel()
    width = vocab + 1  # the entries of a slot, in the order they are made: itself, then + each label
    column = torch.full((frame.size(1),), -1, dtype=torch.long)  # label id -> its column in ``labels``
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
    # Every entry [B, K * width] at its place in the order of making, so that one stable sort by score
    # breaks ties as the one-prefix-at-a-time search does.
    slots = torch.arange(k)
    p_blank = torch.cat([stay_blank[..., None], stay_blank.new_full((batch, k, vocab), NEG_INF)], 2)
    p_blank = p_blank.view(batch, -1)
    p_label = torch.cat([stay_label[..., None], gain], 2).view(batch, -1)
    valid = torch.cat([beams.valid[..., None], allowed], 2).view(batch, -1)
    from_slot = slots.repeat_interleave(width).expand(batch, -1)
    label = torch.cat([labels.new_full((1,), -1), labels]).repeat(k).expand(batch, -1)
    # An extension that is already a beam (slot j = its parent + its last label) adds to j's entry,
    # which sits where the earlier of the two was made.
    parent, has_parent = _parent_slots(beams) if vocab else (None, None)
    last_column = column[beams.last.clamp(min=0)]
    extension_at = parent * width + 1 + last_column.clamp(min=0) if vocab else None
    if vocab and bool((merges := has_parent & (last_column >= 0) & valid.gather(1, extension_at)).any()):
        merged_label = _logaddexp(stay_label, p_label.gather(1, extension_at))
        stay_at = slots[None, :] * width
        earlier = merges & (parent < slots[None, :])
        at = torch.where(earlier, extension_at, stay_at)
        index = torch.where(merges, torch.where(earlier, stay_at, extension_at), at)  # the place emptied
        valid = valid.clone()
        valid.scatter_(1, index, valid.gather(1, index) & ~merges)
        valid.scatter_(1, at, beams.valid)
        p_blank = p_blank.scatter(1, at, stay_blank)
        p_label = p_label.scatter(1, at, torch.where(merges, merged_label, stay_label))
        from_slot = from_slot.scatter(1, at, slots.expand(batch, -1))
        label = label.scatter(1, at, torch.full_like(at, -1))
    score = _logaddexp(p_blank, p_label)
    # valid entries by score (-inf ones too), then the empty ones
    key = torch.where(valid, score.clamp(min=torch.finfo(torch.float64).min), NEG_INF)
    kept = min(beam_size, int(valid.sum(1).max()))
    pick = key.argsort(dim=1, descending=True, stable=True)[:, :kept]
    slot = from_slot.gather(1, pick)
    label = label.gather(1, pick)
    new = _Beams.__new__(_Beams)
    new.p_blank, new.p_label = p_blank.gather(1, pick), p_label.gather(1, pick)
    new.valid = valid.gather(1, pick)
    size = beams.size.gather(1, slot)
    new.tokens = beams.tokens.gather(1, slot[..., None].expand(-1, -1, beams.tokens.size(2)))
    new.tokens.scatter_(2, size[..., None], label[..., None])  # a stay writes -1 over -1
    extended = label >= 0
    new.size = size + extended.long()
    new.last = torch.where(extended, label, beams.last.gather(1, slot))
    key_of_slot = beams.key.gather(1, slot)
    new.key = torch.where(extended, (key_of_slot * _KEY_BASE + label + 1) % _KEY_MOD, key_of_slot)
    new.parent_key = torch.where(extended, key_of_slot, beams.parent_key.gather(1, slot))
    return new


def _keep_where(active: torch.Tensor, new: _Beams, old: _Beams) -> _Beams:
    """``new`` for the utterances still ``active`` [B], ``old`` for the others (whose valid slots come
    first and are never more than ``new`` has)."""
    old.widen(new.valid.size(1))
    k, rows = new.valid.size(1), active[:, None]
    for name in ("p_blank", "p_label", "valid", "last", "size", "key", "parent_key"):
        setattr(new, name, torch.where(rows, getattr(new, name), getattr(old, name)[:, :k]))
    new.tokens = torch.where(rows[..., None], new.tokens, old.tokens[:, :k])
    return new


def ctc_prefix_beam_search_batch(
    log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int, blank: int, n_best: int,
    prune: float | None, scorer: PrefixScorer | None,
) -> list[list[tuple[list[int], float]]]:  # fmt: skip
    """The batched form of :func:`seqlab.nn.ctc.ctc_beam_decode`, which checks the arguments and
    describes them (``scorer`` is a Python callable, so with one each frame calls it per extension)."""
    with one_thread():
        return _search(log_probs, lengths, beam_size, blank, n_best, prune, scorer)


def _search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    beam_size: int,
    blank: int,
    n_best: int,
    prune: float | None,
    scorer: PrefixScorer | None,
) -> list[list[tuple[list[int], float]]]:
    lp = log_probs.detach().float().cpu().double()
    batch = lp.size(0)
    lengths = lengths.detach().cpu().long()
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
