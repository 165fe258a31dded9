"""Attention of a decoder query over padded encoder outputs (Bahdanau et al. 2014, Luong et al. 2015)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

AttentionKind = Literal["additive", "dot", "general"]


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim in float32 with exactly zero weight where ``mask`` is False.

    Rows without any real position get all-zero weights (not NaN), so a context over them is zero.
    """
    scores = scores.float().masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """Score a query against every key, normalise over the real positions, and average the keys.

    Args:
        kind: ``additive`` (Bahdanau: ``v^T tanh(W_q q + W_k k)``), ``dot`` (``q . k``, needs
            ``query_size == key_size``) or ``general`` (Luong: ``q^T W k``).
        query_size: features of the query (the decoder state).
        key_size: features of each key (an encoder output); the keys are also the values.
        attention_size: width of the additive hidden layer (defaults to ``key_size``); unused otherwise.
    """

    def __init__(
        self, kind: AttentionKind, query_size: int, key_size: int, attention_size: int | None = None
    ) -> None:
        super().__init__()
        if kind not in ("additive", "dot", "general"):
            raise ValueError(f"attention must be one of additive, dot, general; got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got {query_size} and {key_size}; "
                "use 'general' (a learned W between them) or 'additive'"
            )
        self.kind, self.query_size, self.key_size = kind, query_size, key_size
        if kind == "additive":
            attention_size = attention_size or key_size
            self.query_proj = nn.Linear(query_size, attention_size, bias=False)
            self.key_proj = nn.Linear(key_size, attention_size)
            self.score = nn.Linear(attention_size, 1, bias=False)
        elif kind == "general":
            # q^T W k computed as (W^T q) . k: one small matmul per query instead of one per key.
            self.query_proj = nn.Linear(query_size, key_size, bias=False)

    def precompute(self, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """The query-independent part of the scores, computed once per source and reused every decoder step
        (``W_k k`` for additive; ``None`` for the other kinds, which have nothing to precompute). Pass the
        ``mask`` when the padded keys may hold non-finite values."""
        if self.kind != "additive":
            return None
        if mask is not None:
            keys = keys.masked_fill(~mask.unsqueeze(-1), 0.0)
        return self.key_proj(keys)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        projected_keys: torch.Tensor | None = None,
        padding_is_zero: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context and weights for ``query`` [B, Q] (or [B, T, Q] for T queries at once) over ``keys``
        [B, S, K] with ``mask`` [B, S] (True = real token).

        Returns ``(context [B, K], weights [B, S])`` (with a T dim after B for 3-d queries); the weights
        are float32, sum to one over the real positions and are exactly zero on padding.
        ``padding_is_zero``: the caller already zeroed the padded keys (a decoder masks its memory once,
        not at every step), so they are not masked again.
        """
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        # Zero the padding first: whatever sits there (even inf or NaN) must reach neither the context
        # nor, through 0 * NaN, the gradients.
        if not padding_is_zero:
            keys = keys.masked_fill(~mask.unsqueeze(-1), 0.0)
        if self.kind == "additive":
            if projected_keys is None:
                projected_keys = self.key_proj(keys)
            hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + projected_keys.unsqueeze(1))
            scores = self.score(hidden).squeeze(-1)  # [B, T, S]
        else:
            if self.kind == "general":
                query = self.query_proj(query)
            scores = torch.bmm(query, keys.transpose(1, 2))
        weights = masked_softmax(scores, mask.unsqueeze(1))
        context = torch.bmm(weights.to(keys.dtype), keys)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
