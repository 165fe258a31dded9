"""SequencePooling, lengths_to_mask and RecurrentClassifier: padding never changes a result."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn import ClassifierConfig, RecurrentClassifier, RecurrentStack, SequencePooling, lengths_to_mask

V, C, H = 17, 4, 6
KINDS = ["last", "mean", "max", "attention"]
HUGE = 1e30


def _padded(lengths: list[int], features: int, fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random outputs [B, max(lengths), features] with ``fill`` everywhere past each length."""
    lengths_t = torch.tensor(lengths)
    outputs = torch.randn(len(lengths), max(lengths), features)
    mask = lengths_to_mask(lengths_t, outputs.size(1))
    return outputs.masked_fill(~mask.unsqueeze(-1), fill), lengths_t


# ---- lengths_to_mask -----------------------------------------------------------------------------
def test_lengths_to_mask_is_a_prefix_mask() -> None:
    mask = lengths_to_mask(torch.tensor([3, 1, 0]), 4)
    expected = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, expected)
    assert lengths_to_mask(torch.tensor([2, 5])).shape == (2, 5)  # defaults to the longest


# ---- SequencePooling -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mean", "max", "attention"])
def test_masked_pooling_ignores_padding_values(kind: str) -> None:
    """Huge values (and inf) in the padding change nothing: each row pools as if it stood alone."""
    pool = SequencePooling(kind, 2 * H, bidirectional=True)
    lengths = [5, 2, 1, 3]
    outputs, lengths_t = _padded(lengths, 2 * H, HUGE)
    outputs[1, -1] = float("inf")
    pooled = pool(outputs, lengths_t)
    assert pooled.shape == (len(lengths), 2 * H)
    assert torch.isfinite(pooled).all()
    for b, n in enumerate(lengths):
        alone = pool(outputs[b : b + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(pooled[b : b + 1], alone, atol=1e-6, rtol=1e-6)
    clean = outputs.masked_fill(~lengths_to_mask(lengths_t).unsqueeze(-1), 0.0)
    if kind == "mean":
        torch.testing.assert_close(pooled, clean.sum(1) / lengths_t.unsqueeze(1).float())
    if kind == "max":
        expected = torch.stack([outputs[b, :n].amax(0) for b, n in enumerate(lengths)])
        torch.testing.assert_close(pooled, expected)


def test_max_pooling_with_all_negative_values_is_not_zero() -> None:
    """Padding is excluded from the max, not replaced by 0 (which would win over negative outputs)."""
    pool = SequencePooling("max", 3, bidirectional=False)
    outputs = -torch.rand(2, 4, 3) - 1.0
    outputs[1, 2:] = 0.0  # a zero-padded row, as RecurrentStack returns it
    pooled = pool(outputs, torch.tensor([4, 2]))
    assert (pooled < 0).all()


def test_attention_weights_are_a_distribution_over_valid_positions() -> None:
    pool = SequencePooling("attention", 2 * H, bidirectional=True)
    assert pool.last_weights is None
    outputs, lengths = _padded([4, 1, 3], 2 * H, HUGE)
    pooled = pool(outputs, lengths)
    weights = pool.last_weights
    assert weights is not None and weights.shape == (3, 4)
    assert not weights.requires_grad
    mask = lengths_to_mask(lengths, 4)
    assert (weights[~mask] == 0).all()
    assert (weights[mask] > 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    torch.testing.assert_close(
        pooled, torch.einsum("bt,btf->bf", weights, outputs.masked_fill(~mask[..., None], 0))
    )


def test_attention_pooling_is_learned() -> None:
    """The attention parameters get gradients; other kinds have no parameters."""
    pool = SequencePooling("attention", 4, bidirectional=False)
    outputs, lengths = _padded([3, 2], 4, 0.0)
    pool(outputs, lengths).sum().backward()
    grads = [p.grad for p in pool.parameters()]
    assert len(grads) == 3 and all(g is not None and g.abs().sum() > 0 for g in grads)
    assert not list(SequencePooling("mean", 4, bidirectional=False).parameters())


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_pooling_equals_final_hidden_states(bidirectional: bool, num_layers: int) -> None:
    """``last`` picks each direction's final state: exactly h_n of the (packed) nn.LSTM's top layer."""
    stack = RecurrentStack("lstm", 5, H, num_layers=num_layers, bidirectional=bidirectional).eval()
    lengths = torch.tensor([2, 6, 1, 4])
    outputs, (h_n, _) = stack(torch.randn(4, 6, 5), lengths=lengths)
    pooled = SequencePooling("last", stack.output_size, bidirectional)(outputs, lengths)
    expected = torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]
    torch.testing.assert_close(pooled, expected, atol=0, rtol=0)


def test_unknown_pooling_kind_raises() -> None:
    with pytest.raises(ValueError, match="pooling"):
        SequencePooling("sum", 4, bidirectional=False)  # type: ignore[arg-type]


# ---- RecurrentClassifier -------------------------------------------------------------------------
def _classifier(cell: str, bidirectional: bool, pooling: str, **kwargs) -> RecurrentClassifier:
    return RecurrentClassifier(
        V,
        C,
        ClassifierConfig(
            cell=cell, embedding_size=5, hidden_size=H, bidirectional=bidirectional, pooling=pooling, **kwargs
        ),
    )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", KINDS)
def test_classifier_logits_are_padding_invariant(cell: str, bidirectional: bool, pooling: str) -> None:
    """An example's logits are the same alone as in a batch with much longer examples (random padding ids)."""
    model = _classifier(cell, bidirectional, pooling).eval()
    short = torch.randint(V, (3,))
    batch = torch.randint(V, (3, 20))  # the padding after ``short`` holds real, non-zero ids
    batch[1, :3] = short
    lengths = torch.tensor([20, 3, 17])
    with torch.no_grad():
        together = model(batch, lengths)
        alone = model(short.unsqueeze(0), torch.tensor([3]))
    assert together.shape == (3, C)
    torch.testing.assert_close(together[1:2], alone, atol=1e-6, rtol=1e-5)
    # and the padding ids really are ignored: changing them changes nothing
    batch[1, 3:] = (batch[1, 3:] + 1) % V
    with torch.no_grad():
        torch.testing.assert_close(model(batch, lengths), together, atol=1e-6, rtol=1e-5)


def test_classifier_learns_and_uses_dropout() -> None:
    """Gradients reach the embedding; dropout makes training passes random and eval passes deterministic."""
    model = _classifier("lstm", True, "attention", dropout=0.5)
    assert isinstance(model.embedding, torch.nn.Embedding) and model.embedding.num_embeddings == V
    ids, lengths = torch.randint(V, (4, 7)), torch.tensor([7, 3, 5, 1])
    first, second = model(ids, lengths), model(ids, lengths)
    assert not torch.allclose(first, second)
    first.logsumexp(-1).sum().backward()
    assert model.embedding.weight.grad is not None and model.embedding.weight.grad.abs().sum() > 0
    model.eval()
    torch.testing.assert_close(model(ids, lengths), model(ids, lengths), atol=0, rtol=0)
