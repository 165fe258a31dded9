"""The gradient diagnostic measures the real model, and shows vanishing gradients where theory says."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.diagnose.gradients import hidden_gradient_norms, language_model_gradient_norms, ratio, unroll
from seqlab.diagnose.long_range import LastStepClassifier, first_token_batch
from seqlab.nn import RecurrentLM, RecurrentLMConfig, RecurrentStack

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
def test_unrolled_outputs_equal_the_fused_forward(cell):
    """Step by step with the state fed back gives the fused kernel's outputs and final state (2 layers,
    dropout configured: both run in eval mode)."""
    stack = RecurrentStack(cell, 5, 12, num_layers=2, dropout=0.3).eval()
    x = torch.randn(3, 17, 5)
    fused, state = stack(x)
    stepped, hiddens = unroll(stack, x)
    torch.testing.assert_close(stepped, fused, atol=1e-5, rtol=1e-4)
    assert len(hiddens) == 17 and hiddens[0].shape == (2, 3, 12)
    final_h = state[0] if isinstance(state, tuple) else state
    torch.testing.assert_close(hiddens[-1], final_h, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_norms_match_an_independent_cell_loop(cell):
    """Every distance agrees with a loop over nn.RNNCell/LSTMCell/GRUCell carrying the same weights,
    differentiated with retain_grad: the curve is d loss_T / d h_t through the recurrence."""
    stack = RecurrentStack(cell, 4, 8)
    kinds = {"rnn_tanh": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
    step = kinds[cell](4, 8)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(step, name).data.copy_(getattr(stack.rnn, f"{name}_l0"))
    head, x, y = nn.Linear(8, 3), torch.randn(5, 12, 4), torch.randint(3, (5,))

    def loss(h: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(h), y, reduction="sum")

    norms = hidden_gradient_norms(stack, x, loss)

    state, hs = None, []
    for t in range(12):
        state = step(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
    loss(hs[-1]).backward()
    expected = torch.stack([h.grad.norm(dim=-1).mean() for h in reversed(hs)])
    torch.testing.assert_close(norms, expected.double(), atol=1e-7, rtol=1e-4)


def test_language_model_norms_are_finite_and_start_at_the_fused_loss_gradient():
    """A 2-layer LM gives [T] finite positive norms; at distance 0 the norm equals the fused model's
    own gradient of its last-step loss, while the fused outputs of earlier steps get no gradient at
    all (which is why the diagnostic unrolls). The model keeps its mode and dtype, and no gradient."""
    lm = RecurrentLM(
        11, RecurrentLMConfig("lstm", embedding_size=6, hidden_size=10, num_layers=2, dropout=0.2)
    )
    ids, targets = torch.randint(11, (4, 30)), torch.randint(11, (4, 30))
    norms = language_model_gradient_norms(lm, ids, targets)
    assert norms.shape == (30,)
    assert torch.isfinite(norms).all() and (norms > 0).all()
    assert lm.training and all(p.grad is None and p.dtype == torch.float32 for p in lm.parameters())

    lm.eval()
    out, _ = lm.rnn(lm.embedding(ids))
    out.retain_grad()
    logits = lm.output(lm.projection(out))
    F.cross_entropy(logits[:, -1], targets[:, -1], reduction="sum").backward()
    torch.testing.assert_close(norms[0].float(), out.grad[:, -1].norm(dim=-1).mean())
    assert out.grad[:, :-1].abs().max() == 0


def test_bidirectional_stack_is_refused():
    stack = RecurrentStack("gru", 3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        unroll(stack, torch.randn(2, 5, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vanilla_rnn_gradients_vanish_faster_than_lstm(seed):
    """Untrained, orthogonal recurrent init, on the synthetic task's inputs (T=60): the share of the
    gradient that survives from distance 1 to distance 50 is at least 10x smaller for a tanh RNN than
    for an LSTM (measured margin: 50-2000x over seeds 0-3 and widths 32-64)."""
    ids, labels = first_token_batch(16, 60, 8, torch.Generator().manual_seed(seed))
    survival = {}
    for cell in ("rnn_tanh", "lstm"):
        torch.manual_seed(seed)
        model = LastStepClassifier(cell, vocab_size=8, hidden_size=64)

        def loss(h: torch.Tensor, model: LastStepClassifier = model) -> torch.Tensor:
            return F.cross_entropy(model.head(h), labels, reduction="sum")

        norms = hidden_gradient_norms(model.rnn, model.embedding(ids), loss)
        assert torch.isfinite(norms).all()
        survival[cell] = ratio(norms, far=50, near=1)
    assert survival["rnn_tanh"] * 10 < survival["lstm"], survival
