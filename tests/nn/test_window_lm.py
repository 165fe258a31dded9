"""FixedWindowLM: each prediction sees exactly the last k tokens; windows chain through the carried state;
a stream's start is a learned padding vector, not a real token."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn import FixedWindowLM, FixedWindowLMConfig

V, K, B, T = 13, 4, 3, 12


def make(**kwargs) -> FixedWindowLM:
    defaults = {"embedding_size": 5, "hidden_size": 7, "num_layers": 2} | kwargs
    return FixedWindowLM(V, FixedWindowLMConfig(K, **defaults)).eval()


@pytest.mark.parametrize("direct_connection", [False, True])
def test_logits_depend_on_exactly_the_last_k_tokens(direct_connection: bool) -> None:
    """Changing ids[s] changes the logits at positions s..s+k-1 and no others."""
    model = make(direct_connection=direct_connection)
    ids = torch.randint(V, (B, T))
    logits, _ = model(ids)
    assert logits.shape == (B, T, V)
    s = 5
    changed = ids.clone()
    changed[:, s] = (ids[:, s] + 1) % V
    other, _ = model(changed)
    differs = (other - logits).abs().amax(dim=(0, 2)) > 1e-6
    expected = torch.zeros(T, dtype=torch.bool)
    expected[s : s + K] = True
    assert differs.tolist() == expected.tolist()


def test_two_windows_with_carried_state_equal_one_pass() -> None:
    """Logits and final state of [0, 5) then [5, 12) from the carried state equal one pass over [0, 12);
    the state is the last k ids."""
    model = make(direct_connection=True)
    ids = torch.randint(V, (B, T))
    whole, state = model(ids)
    first, carried = model(ids[:, :5])
    second, state2 = model(ids[:, 5:], carried)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    assert carried.dtype == torch.long and carried.shape == (B, K)
    assert torch.equal(carried, ids[:, 5 - K : 5])
    assert torch.equal(state, state2) and torch.equal(state, ids[:, -K:])


def test_token_by_token_with_state_equals_one_pass() -> None:
    """Steps of one token (as generation runs) chain exactly, including the padded start (T < k)."""
    model = make()
    ids = torch.randint(V, (B, 6))
    whole, _ = model(ids)
    state, steps = None, []
    for t in range(ids.size(1)):
        logits, state = model(ids[:, t : t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), whole)


def test_stream_start_is_learned_padding() -> None:
    """No state means k padding ids (id V), which embed as the padding vector, unlike any real token: the
    first prediction differs from one made after a history of any real token, and the padding vector gets
    gradient."""
    model = make()
    ids = torch.randint(V, (B, 3))
    logits, _ = model(ids)
    assert torch.equal(model.initial_state(B), torch.full((B, K), V))
    torch.testing.assert_close(model(ids, model.initial_state(B))[0], logits)
    for token in range(V):
        after_real, _ = model(ids, torch.full((B, K), token))
        assert not torch.allclose(after_real[:, 0], logits[:, 0])
    logits[:, 0].sum().backward()
    assert model.padding.grad is not None and model.padding.grad.abs().sum() > 0


def test_tied_weights_share_the_table() -> None:
    """tie_weights makes the output matrix the embedding table (projection when sizes differ)."""
    model = make(tie_weights=True)
    assert model.output.weight is model.embedding.weight
    assert model.embedding.weight.shape == (V, 5)
    logits, _ = model(torch.randint(V, (B, T)))
    assert logits.shape == (B, T, V)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="context_size"):
        FixedWindowLM(V, FixedWindowLMConfig(0))
    with pytest.raises(ValueError, match="num_layers"):
        FixedWindowLM(V, FixedWindowLMConfig(K, num_layers=0))
