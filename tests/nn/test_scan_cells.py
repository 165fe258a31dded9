"""minGRU and minLSTM: the parallel log-space scan and the CPU loop equal a plain step-by-step loop
(forward and gradients), stay stable over long sequences and under bf16 autocast, carry state across
windows like any RNN, ignore padding, and generate step by step exactly as they train."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.nn import RecurrentLM, RecurrentLMConfig, RecurrentStack
from seqlab.nn.linear_recurrence import gated_loop
from seqlab.nn.scan_cells import MinimalGatedCell, ScanLayer, reverse_padded

KINDS = ["mingru", "minlstm"]
FAST_PATHS = ["scan", "loop"]
F_IN, H, V = 5, 8, 13


def _random_batch(seed: int, steps: int = 37) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs [4, T, F] (scaled up so gates saturate sometimes), a padding mask from random lengths,
    and an initial state of both signs (a seq2seq bridge hands the decoder tanh outputs)."""
    generator = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(4, steps, F_IN, generator=generator)
    lengths = torch.randint(1, steps + 1, (4,), generator=generator)
    lengths[0] = steps
    mask = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)
    return x, mask, torch.randn(4, H, generator=generator)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_fast_paths_equal_the_step_loop_forward_and_gradients(kind: str, path: str, seed: int) -> None:
    """fp32, random lengths and initial state: states agree to 1e-5 (relative to their scale), and the
    gradients of a random projection of them w.r.t. inputs, initial state and weights to 1e-4."""
    torch.manual_seed(seed)
    cell = MinimalGatedCell(kind, F_IN, H)  # type: ignore[arg-type]
    x, mask, h0 = _random_batch(seed)
    weights = torch.randn(4, x.size(1), H)

    def run(which: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
        inputs, start = x.clone().requires_grad_(), h0.clone().requires_grad_()
        states = cell(inputs, start, mask, which)  # type: ignore[arg-type]
        grads = torch.autograd.grad((states * weights).sum(), [inputs, start, *cell.parameters()])
        return states, list(grads)

    reference, reference_grads = run("steps")
    states, grads = run(path)
    scale = reference.abs().max()
    torch.testing.assert_close(states / scale, reference / scale, atol=1e-5, rtol=0)
    for got, want in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(got / want.abs().max(), want / want.abs().max(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_the_cpu_loops_hand_written_backward_passes_gradcheck(kind: str) -> None:
    """The CPU path's backward (adjoint recurrence, gates chained by hand) against finite differences,
    float64, with padding and an initial state of both signs."""
    torch.manual_seed(0)
    k = torch.randn(2, 6, (2 if kind == "mingru" else 3) * 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    assert torch.autograd.gradcheck(lambda k, h0: gated_loop(kind, k, h0, mask), (k, h0))


@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_long_sequences_stay_accurate_in_float32(kind: str, path: str) -> None:
    """T = 4,096 with large inputs: within 1e-4 relative of a float64 run; the log-space scan's chunking
    keeps its cancellation error bounded (without it the error reached 6.5e-4 here)."""
    torch.manual_seed(0)
    cell = MinimalGatedCell(kind, F_IN, H)  # type: ignore[arg-type]
    x = 3 * torch.randn(2, 4096, F_IN)
    exact = cell.double()(x.double(), None, None, "loop")
    got = cell.float()(x, None, None, path)  # type: ignore[arg-type]
    assert torch.isfinite(got).all()
    relative = (got.double() - exact).abs() / exact.abs().clamp_min(1e-6)
    assert relative.max() < 1e-4


@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_bf16_autocast_runs_the_recurrence_in_float32(kind: str, path: str) -> None:
    """Under CPU bf16 autocast the input projection runs in bf16 and the recurrence in float32: states are
    finite and within bf16's rounding (2e-2) of the float32 run, over 2,048 steps; gradients are finite."""
    torch.manual_seed(0)
    layer = ScanLayer(kind, F_IN, H, bidirectional=False)  # type: ignore[arg-type]
    x = torch.randn(2, 2048, F_IN, requires_grad=True)
    full, _ = layer(x, path=path)  # type: ignore[arg-type]
    dtypes = []
    layer.cells[0].linear.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half, _ = layer(x, path=path)  # type: ignore[arg-type]
    assert dtypes == [torch.bfloat16]  # the matrix work in the autocast dtype
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), full, atol=2e-2, rtol=2e-2)
    half.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("path", FAST_PATHS)
@pytest.mark.parametrize("kind", KINDS)
def test_state_carried_over_k_windows_equals_one_pass(kind: str, path: str) -> None:
    """Five windows of a 2-layer stack, each started from the last one's state, give the outputs and
    final state of one pass over the whole sequence (the TBPTT contract)."""
    torch.manual_seed(0)
    stack = RecurrentStack(kind, F_IN, H, num_layers=2).eval()  # type: ignore[arg-type]
    x = torch.randn(3, 50, F_IN)
    whole, whole_state = stack(x)
    outputs, state = [], None
    for window in x.split(10, dim=1):
        for layer in stack.layers:  # force the path under test for every layer
            layer.forward = _with_path(layer, path)  # type: ignore[method-assign]
        out, state = stack(window, state)
        outputs.append(out)
    torch.testing.assert_close(torch.cat(outputs, dim=1), whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state, whole_state, atol=1e-5, rtol=1e-5)


def _with_path(layer: ScanLayer, path: str):
    original = ScanLayer.forward
    return lambda x, state=None, lengths=None: original(layer, x, state, lengths, path)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_padded_steps_leave_the_state_unchanged(kind: str, bidirectional: bool) -> None:
    """Junk in the padding changes nothing: outputs are zero there, and outputs and final states of the
    short sequence equal its run alone (both directions, two layers, residual and norm on)."""
    torch.manual_seed(0)
    stack = RecurrentStack(kind, F_IN, H, num_layers=2, bidirectional=bidirectional).eval()  # type: ignore[arg-type]
    short = torch.randn(1, 4, F_IN)
    padded = torch.cat([torch.cat([short, 100 * torch.randn(1, 7, F_IN)], dim=1), torch.randn(1, 11, F_IN)])
    out, state = stack(padded, lengths=torch.tensor([4, 11]))
    alone, alone_state = stack(short)
    assert torch.all(out[0, 4:] == 0)
    torch.testing.assert_close(out[0, :4], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state[:, 0], alone_state[:, 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_step_by_step_generation_equals_teacher_forcing(kind: str) -> None:
    """Feeding a language model one token per call with the carried state (how `generate` runs) gives
    the logits of the teacher-forced pass over the whole sequence."""
    torch.manual_seed(0)
    lm = RecurrentLM(V, RecurrentLMConfig(kind, embedding_size=6, hidden_size=H, num_layers=2)).eval()  # type: ignore[arg-type]
    ids = torch.randint(V, (3, 30))
    with torch.no_grad():
        forced, _ = lm(ids)
        state, stepped = None, []
        for t in range(ids.size(1)):
            logits, state = lm(ids[:, t : t + 1], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.cat(stepped, dim=1), forced, atol=1e-5, rtol=1e-5)


def test_reverse_padded_reverses_real_steps_only() -> None:
    x = torch.arange(10.0).view(2, 5, 1)
    flipped = reverse_padded(x, torch.tensor([3, 5]))
    assert flipped[..., 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_padded(flipped, torch.tensor([3, 5])), x)


def test_stack_options_default_per_cell_and_open_to_classic_cells() -> None:
    """Scan cells get pre-norm and residuals by default (a Linear shortcut where widths differ); classic
    cells keep the fused module unless asked, and with the options run per layer with torch-shaped states."""
    scan = RecurrentStack("mingru", F_IN, H, num_layers=3)
    assert scan.layer_norm and scan.residual and not hasattr(scan, "rnn")
    assert isinstance(scan.norms[0], nn.LayerNorm) and isinstance(scan.shortcuts[0], nn.Linear)
    assert isinstance(scan.shortcuts[1], nn.Identity)  # H -> H: the input is added as it is
    bare = RecurrentStack("minlstm", F_IN, H, num_layers=2, layer_norm=False, residual=False)
    assert all(isinstance(m, nn.Identity) for m in [*bare.norms, *bare.shortcuts])

    fused = RecurrentStack("lstm", F_IN, H, num_layers=2)
    assert isinstance(fused.rnn, nn.LSTM) and not hasattr(fused, "layers")
    deep = RecurrentStack("lstm", F_IN, H, num_layers=3, bidirectional=True, residual=True, layer_norm=True)
    out, (h, c) = deep(torch.randn(2, 6, F_IN), lengths=torch.tensor([6, 2]))
    assert out.shape == (2, 6, 2 * H) and h.shape == c.shape == (6, 2, H)
    assert torch.all(out[1, 2:] == 0)


def test_residual_connection_adds_the_layer_input() -> None:
    """With residual on and norm off, a layer's output is its cell's output plus its input."""
    torch.manual_seed(0)
    stack = RecurrentStack("mingru", H, H, num_layers=1, layer_norm=False, residual=True)
    plain = RecurrentStack("mingru", H, H, num_layers=1, layer_norm=False, residual=False)
    plain.load_state_dict(stack.state_dict())
    x = torch.randn(2, 9, H)
    torch.testing.assert_close(stack(x)[0], plain(x)[0] + x)
