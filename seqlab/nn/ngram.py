"""A count-based n-gram language model (interpolated modified Kneser-Ney, or add-k), counted with numpy.

It is the baseline beside the recurrent models and has their interface, ``model(ids, state) ->
(log-probabilities [B, T, V], state)`` with the last ``n-1`` tokens as the state, so the same task code
evaluates and samples it. Training is counting: ``update`` adds one window's n-grams (its history
reaching back into the carried state), ``finalize`` turns the counts into probability tables.

An n-gram is an int64 key: its tokens as digits in base ``V+1``, the extra digit ``V`` standing for
"before the start of the stream" (a state holds :data:`BOS` there), so streams start padded the way
SRILM and KenLM pad with ``<s>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from seqlab.nn.errors import NetSettingError

Smoothing = Literal["kneser_ney", "add_k"]
BOS = -1  # a state's entry for a position before the start of the stream
MAX_ORDER = 8
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback, for counts too few to estimate D
_INT64_MAX = int(np.iinfo(np.int64).max)
_MERGE_AT = 1 << 20  # pending window keys are merged into the table at this many (or the table's size)
_FLOATS_AT_ONCE = 1 << 22  # float64 probabilities per block of rows in forward (32 MB)
_DENSE_FLOATS = 1 << 22  # the largest dense table of low-order probabilities (32 MB)


def kn_discounts(counts: np.ndarray) -> np.ndarray:
    """``[0, D1, D2, D3+]`` from the count-of-counts n1..n4 (Chen & Goodman 1998).

    With too little data they are undefined or leave (0, r]; then KenLM's fallback 0.5, 1, 1.5 is
    used, which keeps every probability positive.
    """
    n1, n2, n3, n4 = np.bincount(np.minimum(counts, 5), minlength=6)[1:5].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = n1 / (n1 + 2 * n2)
        d = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    if not (np.isfinite(d).all() and (d > 0).all() and (d <= (1, 2, 3)).all()):
        d = np.array(FALLBACK_DISCOUNTS)
    return np.concatenate([[0.0], d])


def continuation_counts(
    keys: np.ndarray, counts: np.ndarray, order: int, base: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order ``order-1`` counts for Kneser-Ney from order ``order``: how many distinct tokens precede
    each shorter n-gram; one that begins at a stream start keeps its raw count, since nothing can
    precede the start (KenLM's rule)."""
    suffix = keys % base ** (order - 1)
    at_start = suffix // base ** (order - 2) == base - 1
    lower, inverse = np.unique(suffix, return_inverse=True)
    weight = np.where(at_start, counts, 1)
    return lower, np.bincount(inverse, weights=weight, minlength=len(lower)).astype(np.int64)


@dataclass
class Level:
    """One order's table: for context ``contexts[j]`` (sorted keys), the seen next tokens and their
    probability terms are entries ``offsets[j]:offsets[j+1]``; ``gamma[j]`` weighs the order below."""

    contexts: np.ndarray
    offsets: np.ndarray
    gamma: np.ndarray
    words: np.ndarray
    terms: np.ndarray

    @classmethod
    def build(
        cls, keys: np.ndarray, counts: np.ndarray, base: int, discount: np.ndarray | None, k: float
    ) -> Level:
        """KN terms ``(c - D[c]) / c(h)`` and ``gamma = sum D / c(h)``; with ``discount=None``, add-k:
        ``c / (c(h) + kV)`` and ``gamma = kV / (c(h) + kV)`` (times the uniform 1/V: k / (c(h) + kV))."""
        if len(keys) == 0:
            empty = np.zeros(0, np.int64)
            return cls(empty, np.zeros(1, np.int64), np.zeros(0), empty, np.zeros(0))
        contexts, first = np.unique(keys // base, return_index=True)
        offsets = np.append(first, len(keys))
        owner = np.repeat(np.arange(len(contexts)), np.diff(offsets))
        c = counts.astype(np.float64)
        totals = np.add.reduceat(c, first)
        if discount is None:
            denominator = totals + k * (base - 1)
            terms, gamma = c / denominator[owner], k * (base - 1) / denominator
        else:
            d = discount[np.minimum(counts, 3)]
            terms, gamma = (c - d) / totals[owner], np.add.reduceat(d, first) / totals
        return cls(contexts, offsets, gamma, keys % base, terms)

    def interpolate(self, probs: np.ndarray, contexts: np.ndarray) -> None:
        """``probs`` [N, V] holds the order below; rows whose context is seen become this order's."""
        if not probs.flags.c_contiguous:
            raise ValueError("probs must be C-contiguous (it is updated through a flat view)")
        if len(self.contexts) == 0:
            return
        j = np.minimum(np.searchsorted(self.contexts, contexts), len(self.contexts) - 1)
        rows = np.flatnonzero(self.contexts[j] == contexts)
        j = j[rows]
        probs[rows] *= self.gamma[j, None]
        start, lengths = self.offsets[j], self.offsets[j + 1] - self.offsets[j]
        entry = np.repeat(start - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        flat = np.repeat(rows * probs.shape[1], lengths) + self.words[entry]
        probs.reshape(-1)[flat] += self.terms[entry]


@dataclass(frozen=True)
class NgramConfig:
    """The model of an :class:`NgramLM` (the ``net`` of ``NgramTask``).

    Attributes:
        order: n, 1..8 (``vocab_size+1`` to the power ``order`` must fit in int64).
        smoothing: ``kneser_ney`` (interpolated modified KN, Chen & Goodman: discounts D1, D2, D3+
            per order, continuation counts below the top order, the uniform distribution at the
            bottom) or ``add_k`` (top order only: ``(c(h,w) + k) / (c(h) + kV)``).
        k: the pseudo-count of ``add_k``.
    """

    order: int = 5
    smoothing: Smoothing = "kneser_ney"
    k: float = 1.0


class NgramLM(nn.Module):
    """Order-n language model over ``vocab_size`` token ids."""

    def __init__(self, vocab_size: int, config: NgramConfig = NgramConfig()):
        super().__init__()
        order, smoothing, k = config.order, config.smoothing, config.k
        if not 1 <= order <= MAX_ORDER:
            raise NetSettingError(f"order must be 1..{MAX_ORDER}, got {order}")
        if vocab_size < 1:
            raise NetSettingError(f"vocab_size must be positive, got {vocab_size}")
        if smoothing not in ("kneser_ney", "add_k"):
            raise NetSettingError(f"smoothing must be 'kneser_ney' or 'add_k', got {smoothing!r}")
        if smoothing == "add_k" and not k > 0:
            raise NetSettingError(f"add_k needs k > 0 (k = 0 gives unseen tokens probability 0), got {k}")
        base = vocab_size + 1
        if base**order > _INT64_MAX:
            fits = max((m for m in range(1, MAX_ORDER + 1) if base**m <= _INT64_MAX), default=0)
            raise NetSettingError(
                f"order-{order} n-grams over {vocab_size} token ids do not fit a 64-bit key "
                f"({base}**{order} > 2**63 - 1); use order <= {fits} or a smaller vocabulary"
            )
        self.vocab_size, self.order, self.smoothing, self.k, self.base = vocab_size, order, smoothing, k, base
        self.discounts: dict[int, np.ndarray] = {}  # order -> D1, D2, D3+ (Kneser-Ney, after finalize)
        self.finalize_seconds = 0.0
        self._keys = np.zeros(0, np.int64)  # sorted distinct order-n keys
        self._counts = np.zeros(0, np.int64)
        self._pending: list[np.ndarray] = []  # keys of windows not merged yet
        self._pending_size = 0
        self._tokens = 0
        self._levels: list[tuple[int, Level]] | None = None  # None: counts changed since finalize
        self._dense_order = 0  # orders up to this one are looked up in one dense table [contexts, V]
        self._dense = np.full((1, vocab_size), 1.0 / vocab_size)

    # ---- counting --------------------------------------------------------------------------
    def update(
        self, ids: torch.Tensor, targets: torch.Tensor, state: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Count the n-gram ending at every target of a window [B, T] (its history reaching back into
        ``state``); returns the state after the window. Windows in stream order, each with the state
        the previous one returned, count every n-gram of the stream exactly once."""
        if targets.shape != ids.shape:
            raise ValueError(f"targets {tuple(targets.shape)} must have the shape of ids {tuple(ids.shape)}")
        full, new_state = self._history(ids, state)
        keys = self._context_keys(full, ids.size(1))[-1] * self.base + self._checked(targets)
        if keys.size:
            self._pending.append(keys.ravel())
            self._pending_size += keys.size
            self._tokens += keys.size
            self._levels = None
        if self._pending_size >= max(_MERGE_AT, len(self._keys)):
            self._merge()
        return new_state

    def _merge(self) -> None:
        if not self._pending_size:
            return
        new, new_counts = np.unique(np.concatenate(self._pending), return_counts=True)
        self._pending, self._pending_size = [], 0
        keys = np.concatenate([self._keys, new])
        counts = np.concatenate([self._counts, new_counts])
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        self._keys, self._counts = keys[first], np.add.reduceat(counts, first)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct order-n keys (sorted) and their counts."""
        self._merge()
        return self._keys, self._counts

    @property
    def num_ngrams(self) -> int:
        """Distinct order-n n-grams counted."""
        return len(self.counts()[0])

    @property
    def num_tokens(self) -> int:
        """Tokens (n-gram occurrences) counted."""
        return self._tokens

    # ---- probabilities ---------------------------------------------------------------------
    def finalize(self) -> None:
        """Build the probability tables from the counts (again only if counts changed since)."""
        if self._levels is not None:
            return
        start = time.perf_counter()
        keys, counts = self.counts()
        if self.smoothing == "add_k":
            self._levels = [(self.order, Level.build(keys, counts, self.base, None, self.k))]
        else:
            levels = []
            for m in range(self.order, 0, -1):
                discount = kn_discounts(counts)
                self.discounts[m] = discount[1:]
                levels.append((m, Level.build(keys, counts, self.base, discount, 0.0)))
                if m > 1:
                    keys, counts = continuation_counts(keys, counts, m, self.base)
            self._levels = levels[::-1]
        self._build_dense()
        self.finalize_seconds = time.perf_counter() - start

    def _build_dense(self) -> None:
        """Tabulate the low orders for every possible context while that is small (orders 1-2 of a
        character model): their rows are most of the work of a sparse lookup, a gather here."""
        table, self._dense_order = np.full((1, self.vocab_size), 1.0 / self.vocab_size), 0
        levels = dict(self._levels or [])
        for m in range(1, self.order + 1):
            if self.base ** (m - 1) * self.vocab_size > _DENSE_FLOATS:
                break
            contexts = np.arange(self.base ** (m - 1))
            table = table[contexts % self.base ** (m - 2) if m >= 2 else contexts]  # drop the oldest token
            if m in levels:
                levels[m].interpolate(table, contexts)
            self._dense, self._dense_order = table, m

    def forward(
        self, ids: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities [B, T, V] of the next token after each position (float32; they are
        normalised, so they serve as logits), and the state (last n-1 tokens) after the window."""
        self.finalize()
        full, new_state = self._history(ids, state)
        b, t = ids.shape
        contexts = [c.ravel() for c in self._context_keys(full, t)]
        out = np.empty((b * t, self.vocab_size), np.float32)
        step = max(1, _FLOATS_AT_ONCE // self.vocab_size)
        dense = contexts[self._dense_order - 1] if self._dense_order else np.zeros(b * t, np.int64)
        for lo in range(0, b * t, step):  # blocks bound the float64 memory, not a loop per token
            probs = self._dense[dense[lo : lo + step]]
            for order, level in self._levels or []:
                if order > self._dense_order:
                    level.interpolate(probs, contexts[order - 1][lo : lo + step])
            np.log(probs, out=out[lo : lo + step], casting="same_kind")
        return torch.from_numpy(out).view(b, t, self.vocab_size).to(ids.device), new_state

    # ---- keys ------------------------------------------------------------------------------
    def _checked(self, ids: torch.Tensor) -> np.ndarray:
        array = ids.detach().cpu().numpy().astype(np.int64, copy=False)
        if array.size and (array.min() < 0 or array.max() >= self.vocab_size):
            raise ValueError(f"targets must be in 0..{self.vocab_size - 1}, got {array.min()}..{array.max()}")
        return array

    def _history(self, ids: torch.Tensor, state: torch.Tensor | None) -> tuple[np.ndarray, torch.Tensor]:
        """The state and window as one array [B, n-1+T] (``BOS`` as digit V), and the new state."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be [batch, time], got shape {tuple(ids.shape)}")
        history = self.order - 1
        if state is None:
            state = ids.new_full((ids.size(0), history), BOS, dtype=torch.long)
        elif state.shape != (ids.size(0), history):
            raise ValueError(f"state must be [batch, {history}], got shape {tuple(state.shape)}")
        full = torch.cat([state.to(ids.device, torch.long), ids.long()], dim=1)
        new_state = full[:, full.size(1) - history :]
        array = full.detach().cpu().numpy()
        if ((array != BOS) & ((array < 0) | (array >= self.vocab_size))).any():
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1} (or {BOS} in a state)")
        return np.where(array == BOS, self.vocab_size, array), new_state

    def _context_keys(self, full: np.ndarray, t: int) -> list[np.ndarray]:
        """Keys [B, T] of the context of each order 1..n at every position (order 1: the empty context)."""
        keys = [np.zeros((full.shape[0], t), np.int64)]
        for m in range(2, self.order + 1):
            col = 1 + self.order - m  # the token m-1 back from the newest one of the position's history
            keys.append(keys[-1] + full[:, col : col + t] * self.base ** (m - 2))
        return keys

    # ---- checkpoints -----------------------------------------------------------------------
    def get_extra_state(self) -> torch.Tensor:
        """The counts as one int64 tensor [2, M] (keys, counts): checkpoints load with ``weights_only``
        and the tables are rebuilt from them."""
        keys, counts = self.counts()
        return torch.from_numpy(np.stack([keys, counts]))

    def set_extra_state(self, state: torch.Tensor) -> None:
        if not (isinstance(state, torch.Tensor) and state.dim() == 2 and state.size(0) == 2):
            raise ValueError("n-gram counts must be an int64 tensor [2, M] of keys and counts")
        keys, counts = state.detach().cpu().numpy().astype(np.int64)
        if len(keys) and (keys.min() < 0 or keys.max() >= self.base**self.order):
            raise ValueError(
                f"these n-gram counts do not fit order {self.order} over {self.vocab_size} token ids"
            )
        self._keys, self._counts = keys.copy(), counts.copy()
        self._pending, self._pending_size = [], 0
        self._tokens = int(counts.sum())
        self._levels = None
