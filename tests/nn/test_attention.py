"""Attention: masked weights, contexts blind to padding, the dot size check, precomputation, many queries."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn.attention import Attention
from seqlab.nn.pooling import lengths_to_mask

KINDS = ["additive", "dot", "general"]
B, S, Q = 3, 6, 8
LENGTHS = torch.tensor([6, 2, 4])


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, Q, generator=g), torch.randn(B, S, Q, generator=g), lengths_to_mask(LENGTHS, S)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_sum_to_one_and_are_zero_on_padding(kind: str) -> None:
    attention = Attention(kind, Q, Q)
    query, keys, mask = _inputs()
    context, weights = attention(query, keys, mask)
    assert context.shape == (B, Q) and weights.shape == (B, S)
    assert weights.dtype == torch.float32
    assert torch.all(weights[~mask] == 0.0)
    assert torch.all(weights[mask] > 0.0)
    torch.testing.assert_close(weights.sum(1), torch.ones(B))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("junk", [1e30, float("inf"), float("nan")])
def test_context_ignores_padded_keys(kind: str, junk: float) -> None:
    """Junk (huge, inf, NaN) in the padded keys changes neither the context, the weights nor the gradients."""
    attention = Attention(kind, Q, Q)
    query, keys, mask = _inputs()
    clean_keys = keys.masked_fill(~mask.unsqueeze(-1), 0.0).requires_grad_()
    dirty_keys = keys.masked_fill(~mask.unsqueeze(-1), junk).requires_grad_()
    context, weights = attention(query, clean_keys, mask)
    context.sum().backward()
    clean_grads = [p.grad.clone() for p in attention.parameters()]
    attention.zero_grad()
    dirty_context, dirty_weights = attention(query, dirty_keys, mask)
    dirty_context.sum().backward()
    torch.testing.assert_close(dirty_context, context)
    torch.testing.assert_close(dirty_weights, weights)
    for clean, p in zip(clean_grads, attention.parameters(), strict=True):
        assert torch.isfinite(p.grad).all()
        torch.testing.assert_close(p.grad, clean)
    assert torch.isfinite(dirty_keys.grad).all()
    assert torch.all(dirty_keys.grad[~mask] == 0.0)
    # The context is a convex combination of the real keys only.
    by_hand = torch.stack([weights[b, : LENGTHS[b]] @ keys[b, : LENGTHS[b]] for b in range(B)])
    torch.testing.assert_close(context, by_hand)


def test_dot_needs_equal_sizes() -> None:
    with pytest.raises(ValueError, match="query_size == key_size"):
        Attention("dot", 8, 6)
    Attention("general", 8, 6)  # a learned W bridges the sizes
    Attention("additive", 8, 6)
    with pytest.raises(ValueError, match="attention must be one of"):
        Attention("cosine", 8, 8)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_mismatched_sizes_and_kinds_differ(kind: str) -> None:
    """general and additive work across sizes; the scores really depend on the query."""
    key_size = Q if kind == "dot" else 5
    attention = Attention(kind, Q, key_size)
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(B, S, key_size, generator=g)
    mask = lengths_to_mask(LENGTHS, S)
    context, w1 = attention(torch.randn(B, Q, generator=g), keys, mask)
    _, w2 = attention(torch.randn(B, Q, generator=g), keys, mask)
    assert context.shape == (B, key_size)
    assert not torch.allclose(w1, w2)


def test_precomputed_keys_match() -> None:
    attention = Attention("additive", Q, 5, attention_size=7)
    g = torch.Generator().manual_seed(2)
    query, keys = torch.randn(B, Q, generator=g), torch.randn(B, S, 5, generator=g)
    mask = lengths_to_mask(LENGTHS, S)
    projected = attention.precompute(keys, mask)
    assert projected is not None and projected.shape == (B, S, 7)
    torch.testing.assert_close(
        attention(query, keys, mask, projected_keys=projected), attention(query, keys, mask)
    )
    assert Attention("dot", Q, Q).precompute(keys) is None
    assert Attention("general", Q, 5).precompute(keys) is None


@pytest.mark.parametrize("kind", KINDS)
def test_many_queries_at_once_match_one_at_a_time(kind: str) -> None:
    """A [B, T, Q] query equals T separate [B, Q] queries (the teacher-forced decoder uses this)."""
    attention = Attention(kind, Q, Q)
    _, keys, mask = _inputs()
    queries = torch.randn(B, 4, Q)
    context, weights = attention(queries, keys, mask)
    assert context.shape == (B, 4, Q) and weights.shape == (B, 4, S)
    for t in range(4):
        c, w = attention(queries[:, t], keys, mask)
        torch.testing.assert_close(context[:, t], c)
        torch.testing.assert_close(weights[:, t], w)


def test_row_without_real_positions_gives_zeros_not_nan() -> None:
    attention = Attention("general", Q, Q)
    query, keys, _ = _inputs()
    mask = lengths_to_mask(torch.tensor([3, 0, 1]), S)
    context, weights = attention(query, keys, mask)
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()
    assert torch.all(weights[1] == 0) and torch.all(context[1] == 0)
