"""RecurrentStack, detach_state and RecurrentLM: shapes, initialisation, padding and state carry-over."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.nn import RecurrentLM, RecurrentLMConfig, RecurrentStack, detach_state

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
ALL_CELLS = [*CELLS, "mingru", "minlstm"]  # the scan cells have no recurrent matrices to initialise
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
H, F_IN, V = 8, 5, 11


def _state_tensors(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


# ---- RecurrentStack ------------------------------------------------------------------------------
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_output_and_state_shapes(cell: str, bidirectional: bool, num_layers: int) -> None:
    """Outputs are [B, T, H * directions]; the state is [layers * directions, B, H] (a pair for LSTM)."""
    stack = RecurrentStack(cell, F_IN, H, num_layers=num_layers, bidirectional=bidirectional)
    dirs = 2 if bidirectional else 1
    out, state = stack(torch.randn(3, 7, F_IN))
    assert stack.output_size == H * dirs
    assert out.shape == (3, 7, H * dirs)
    assert isinstance(state, tuple) == (cell == "lstm")
    for s in _state_tensors(state):
        assert s.shape == (num_layers * dirs, 3, H)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_orthogonal_init_per_gate(cell: str, bidirectional: bool, num_layers: int) -> None:
    """Every gate block of every weight_hh_l* is orthogonal (W W^T = I), and torch's default init is not."""
    stack = RecurrentStack(cell, F_IN, H, num_layers=num_layers, bidirectional=bidirectional)
    plain = RecurrentStack(
        cell, F_IN, H, num_layers=num_layers, bidirectional=bidirectional, orthogonal_init=False
    )
    names = [n for n, _ in stack.rnn.named_parameters() if n.startswith("weight_hh")]
    assert len(names) == num_layers * (2 if bidirectional else 1)
    eye = torch.eye(H)
    for name in names:
        blocks = getattr(stack.rnn, name).detach().chunk(GATES[cell], dim=0)
        assert len(blocks) == GATES[cell]
        for block in blocks:
            assert block.shape == (H, H)
            torch.testing.assert_close(block @ block.T, eye, atol=1e-5, rtol=0)
        default = getattr(plain.rnn, name).detach().chunk(GATES[cell], dim=0)[0]
        assert not torch.allclose(default @ default.T, eye, atol=1e-2)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_forget_bias_sets_forget_slice(bidirectional: bool) -> None:
    """bias_ih + bias_hh equals forget_bias on the forget slice [H:2H] of every layer and direction only."""
    stack = RecurrentStack("lstm", F_IN, H, num_layers=2, bidirectional=bidirectional, forget_bias=2.5)
    suffixes = ["", "_reverse"] if bidirectional else [""]
    for layer in range(2):
        for sfx in suffixes:
            bias_ih, bias_hh = (getattr(stack.rnn, f"bias_{k}_l{layer}{sfx}") for k in ("ih", "hh"))
            total = bias_ih + bias_hh
            torch.testing.assert_close(total[H : 2 * H], torch.full((H,), 2.5))
            for other in (total[:H], total[2 * H :]):  # input, cell and output gates keep torch's init
                assert not torch.allclose(other, torch.full_like(other, 2.5))
    default = RecurrentStack("lstm", F_IN, H, forget_bias=None)
    total = default.rnn.bias_ih_l0 + default.rnn.bias_hh_l0
    assert total[H : 2 * H].std() > 0  # None leaves the random default


def test_lstm_forget_bias_drives_the_forget_gate() -> None:
    """The slice is the forget gate: with zero weights a large forget bias keeps the cell state."""
    for forget_bias, expected_factor in ((50.0, 1.0), (0.0, 0.5)):
        stack = RecurrentStack("lstm", 1, H, forget_bias=forget_bias, orthogonal_init=False)
        with torch.no_grad():
            for name, p in stack.rnn.named_parameters():
                if name.startswith("weight"):
                    p.zero_()
                elif name.startswith("bias"):
                    forget = p[H : 2 * H].clone()
                    p.zero_()
                    p[H : 2 * H] = forget
        c0 = torch.full((1, 1, H), 2.0)
        _, (_, c1) = stack(torch.zeros(1, 1, 1), (torch.zeros(1, 1, H), c0))
        # c1 = sigmoid(forget) * c0 + sigmoid(0) * tanh(0)
        torch.testing.assert_close(c1, c0 * expected_factor)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_lengths_zero_padding_and_batch_independence(cell: str, bidirectional: bool) -> None:
    """With lengths, outputs past each length are zero and a short example's outputs and final state are
    the same alone as padded in a batch next to a much longer example (both directions)."""
    stack = RecurrentStack(cell, F_IN, H, num_layers=2, bidirectional=bidirectional).eval()
    short_len, long_len = 3, 12
    short = torch.randn(1, short_len, F_IN)
    long = torch.randn(1, long_len, F_IN)
    padded = torch.cat([torch.cat([short, torch.randn(1, long_len - short_len, F_IN)], dim=1), long])
    lengths = torch.tensor([short_len, long_len])

    out, state = stack(padded, lengths=lengths)
    assert out.shape == (2, long_len, stack.output_size)
    assert torch.all(out[0, short_len:] == 0)
    assert torch.all(out[0, :short_len].abs().sum(-1) > 0)

    alone_out, alone_state = stack(short)
    torch.testing.assert_close(out[0, :short_len], alone_out[0], atol=1e-6, rtol=1e-5)
    for batched, single in zip(_state_tensors(state), _state_tensors(alone_state), strict=True):
        torch.testing.assert_close(batched[:, 0], single[:, 0], atol=1e-6, rtol=1e-5)

    long_out, _ = stack(long)
    torch.testing.assert_close(out[1], long_out[0], atol=1e-6, rtol=1e-5)


def test_without_lengths_padding_leaks_into_backward_direction() -> None:
    """Control for the lengths test: unpacked padding does change a bidirectional example's outputs."""
    stack = RecurrentStack("gru", F_IN, H, bidirectional=True).eval()
    short = torch.randn(1, 3, F_IN)
    padded = torch.cat([short, torch.randn(1, 9, F_IN)], dim=1)
    assert not torch.allclose(stack(padded)[0][0, :3], stack(short)[0][0], atol=1e-4)


def test_bad_cell_raises() -> None:
    """An unknown cell name is a ValueError that names the choices."""
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentStack("transformer", F_IN, H)  # type: ignore[arg-type]


def test_detach_state() -> None:
    """detach_state cuts the autograd history of a tensor and of each of an (h, c) pair; None stays None."""
    x = torch.randn(2, 3, requires_grad=True)
    h = x * 2
    detached = detach_state(h)
    assert h.requires_grad and not detached.requires_grad
    assert torch.equal(detached, h)

    pair = (x * 3, x + 1)
    out = detach_state(pair)
    assert isinstance(out, tuple) and len(out) == 2
    for before, after in zip(pair, out, strict=True):
        assert after.grad_fn is None and not after.requires_grad
        assert torch.equal(before, after)
    assert detach_state(None) is None


# ---- RecurrentLM ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ALL_CELLS)
def test_lm_logits_shape(cell: str) -> None:
    """Logits are [B, T, V] for ids [B, T]."""
    lm = RecurrentLM(V, RecurrentLMConfig(cell, embedding_size=6, hidden_size=H, num_layers=2))
    logits, state = lm(torch.randint(V, (4, 9)))
    assert logits.shape == (4, 9, V)
    for s in _state_tensors(state):
        assert s.shape == (2, 4, H)


@pytest.mark.parametrize("hidden_size", [6, 10])
def test_lm_tie_weights_shares_the_parameter(hidden_size: int) -> None:
    """tie_weights makes output.weight the very same Parameter as embedding.weight, with a projection
    only when hidden_size differs from embedding_size; the shared matrix gets gradient from both ends."""
    lm = RecurrentLM(
        V, RecurrentLMConfig("gru", embedding_size=6, hidden_size=hidden_size, num_layers=1, tie_weights=True)
    )
    assert lm.output.weight is lm.embedding.weight
    assert sum(p is lm.embedding.weight for p in lm.parameters()) == 1
    if hidden_size == 6:
        assert isinstance(lm.projection, nn.Identity)
    else:
        assert isinstance(lm.projection, nn.Linear)
        assert lm.projection.weight.shape == (6, hidden_size)
    logits, _ = lm(torch.randint(V, (2, 5)))
    assert logits.shape == (2, 5, V)
    logits.sum().backward()
    assert lm.embedding.weight.grad is not None and lm.embedding.weight.grad.abs().sum() > 0

    untied = RecurrentLM(V, RecurrentLMConfig("gru", embedding_size=6, hidden_size=hidden_size, num_layers=1))
    assert untied.output.weight is not untied.embedding.weight
    assert untied.output.weight.shape == (V, hidden_size)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_lm_state_carries_over_two_halves(cell: str) -> None:
    """Reading a sequence in two halves, passing the state along, gives the logits of one pass."""
    lm = RecurrentLM(
        V, RecurrentLMConfig(cell, embedding_size=6, hidden_size=H, num_layers=2, dropout=0.0)
    ).eval()
    ids = torch.randint(V, (3, 10))
    with torch.no_grad():
        full, full_state = lm(ids)
        first, state = lm(ids[:, :4])
        second, end_state = lm(ids[:, 4:], state)
        fresh, _ = lm(ids[:, 4:])
    torch.testing.assert_close(torch.cat([first, second], dim=1), full, atol=1e-6, rtol=1e-5)
    for a, b in zip(_state_tensors(end_state), _state_tensors(full_state), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(fresh, second, atol=1e-4)  # the carried state matters


@pytest.mark.filterwarnings("ignore:oneDNN has no bf16 LSTM kernel")
def test_lstm_runs_under_cpu_bf16_autocast_on_any_cpu() -> None:
    """Tried on an AVX2-only AMD EPYC, where oneDNN's bf16 LSTM fails to build its primitive: the stack
    then runs its LSTM in float32, so bf16-mixed training works on every CPU and stays close to fp32."""
    torch.manual_seed(0)
    stack = RecurrentStack("lstm", F_IN, H, num_layers=2, bidirectional=True)
    x = torch.randn(3, 7, F_IN)
    reference, _ = stack(x)
    lengths = torch.tensor([7, 3, 5])
    packed_reference, _ = stack(x, lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = stack(x)
        carried, _ = stack(x, state)  # a carried state (TBPTT) works too
        with torch.no_grad():
            packed, _ = stack(x, lengths=lengths)  # packed, as encoders run it in validation
    assert torch.allclose(out.float(), reference, atol=0.05)
    assert torch.isfinite(carried.float()).all()
    assert torch.allclose(packed.float(), packed_reference, atol=0.05)
