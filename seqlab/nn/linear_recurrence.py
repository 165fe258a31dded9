"""The linear recurrence ``h_t = a_t h_{t-1} + b_t`` (0 < a <= 1, b > 0) behind minGRU and minLSTM,
three ways that give the same states (see :mod:`seqlab.nn.scan_cells` for when each runs):

* :func:`log_space_scan`: the parallel scan of Feng et al. in log space (``cumsum`` +
  ``logcumsumexp``), a handful of kernels per sequence: the GPU path;
* :func:`gated_loop`: a loop over time in linear space inside one autograd function that also
  computes the gates, with a hand-written backward: the CPU path, where ``logcumsumexp`` runs scalar
  code per element while a step of ``a * h + b`` over [B, H] is one vector call, and where every
  elementwise pass over [B, T, H] saved counts;
* :func:`step_by_step`: plain autograd, one step per iteration: generation's path (T = 1) and the
  reference the other two are tested against.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# log b on padded steps: exp() of it is exactly 0 in float32, and unlike -inf it keeps gradients finite.
NO_INPUT = -1e4
# Steps per piece of the log-space scan (see :func:`log_space_scan`).
SCAN_CHUNK = 256


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Half precisions widened to float32 (the scan's exponentials need it); float64 stays."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def g(x: torch.Tensor) -> torch.Tensor:
    """The positive candidate activation: ``x + 0.5`` for x >= 0, ``sigmoid(x)`` below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """``log(g(x))`` computed without forming ``g(x)`` (no ``log(0)`` where ``sigmoid`` underflows)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), F.logsigmoid(x))


def log_space_scan(
    log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None, chunk: int = SCAN_CHUNK
) -> torch.Tensor:
    """All states ``h`` [B, T, H] of ``h_t = a_t h_{t-1} + b_t`` from log coefficients [B, T, H] and an
    initial state ``h0`` [B, H] (``None``: zeros; any sign).

    Time is cut into ``chunk``-step pieces scanned all at once from a zero state; a short loop over
    the pieces then carries the state in (linear space, so ``h0`` needs no logarithm). ``A_t`` grows
    with t and ``A_t + logcumsumexp(...)`` cancels two numbers of that size: bounding t by the
    chunk keeps float32's relative error near 1e-5 at any length.
    """
    batch, steps, width = log_a.shape
    pieces = -(-steps // chunk)
    size = min(chunk, steps)
    pad = pieces * size - steps
    if pad:
        log_a = F.pad(log_a, (0, 0, 0, pad))
        log_b = F.pad(log_b, (0, 0, 0, pad), value=NO_INPUT)
    log_a, log_b = log_a.view(batch, pieces, size, width), log_b.view(batch, pieces, size, width)
    a_star = log_a.cumsum(dim=2)
    local = (a_star + torch.logcumsumexp(log_b - a_star, dim=2)).exp()  # each piece from a zero state
    decay = a_star.exp()
    carry = log_a.new_zeros(batch, width) if h0 is None else at_least_fp32(h0)
    carries = []
    for piece in range(pieces):
        carries.append(carry)
        carry = decay[:, piece, -1] * carry + local[:, piece, -1]
    h = local + decay * torch.stack(carries, dim=1).unsqueeze(2)
    return h.view(batch, pieces * size, width)[:, :steps]


def mix_and_candidate(kind: str, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The share ``s`` of the new candidate (``a = 1 - s``, ``b = s * g(candidate)``) and the candidate's
    pre-activation, from the input projection ``k`` [B, T, 2H] (minGRU) or [B, T, 3H] (minLSTM).

    minGRU: ``s = z = sigmoid(k_z)``. minLSTM: ``s = i / (f + i) = sigmoid(log(i / f))`` with
    ``log(i / f) = softplus(-k_f) - softplus(-k_i)`` (the gates normalised to sum to one).
    """
    if kind == "mingru":
        gate, candidate = k.chunk(2, dim=-1)
        return torch.sigmoid(gate), candidate
    forget, input_, candidate = k.chunk(3, dim=-1)
    return torch.sigmoid(F.softplus(-forget) - F.softplus(-input_)), candidate


def _g_derivative(x: torch.Tensor) -> torch.Tensor:
    sig = torch.sigmoid(x)
    return torch.where(x >= 0, torch.ones_like(x), sig * (1 - sig))


class _GatedLoop(torch.autograd.Function):
    """minGRU/minLSTM from their input projection ``k`` to all states, in one autograd node.

    Forward: the gates (a few passes over [B, T, H]), then ``h_t = a_t h_{t-1} + b_t`` by a loop over
    time into one preallocated tensor. Backward: the adjoint recurrence ``d_t = dL/dh_t + a_{t+1}
    d_{t+1}`` (one more loop), ``dL/da_t = d_t h_{t-1}``, ``dL/db_t = d_t``, chained by hand to ``k``
    with the gates recomputed: no graph of T nodes, no per-op temporaries kept for backward.
    """

    @staticmethod
    def forward(
        ctx: Any, k: torch.Tensor, h0: torch.Tensor, mask: torch.Tensor | None, kind: str
    ) -> torch.Tensor:
        mix, candidate = mix_and_candidate(kind, k)
        if mask is not None:
            mix = mix.masked_fill(~mask.unsqueeze(-1), 0.0)  # a = 1, b = 0: padding keeps the state
        a, b = 1 - mix, mix * g(candidate)
        h = torch.empty_like(b)
        previous = h0
        for t in range(a.size(1)):
            previous = torch.addcmul(b[:, t], a[:, t], previous, out=h[:, t])
        ctx.save_for_backward(k, h, h0, mask)
        ctx.kind = kind
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None]:
        k, h, h0, mask = ctx.saved_tensors
        mix, candidate = mix_and_candidate(ctx.kind, k)
        if mask is not None:
            mix = mix.masked_fill(~mask.unsqueeze(-1), 0.0)
        a = 1 - mix
        grad = torch.empty_like(h)
        later = grad[:, -1].copy_(grad_h[:, -1])
        for t in range(a.size(1) - 2, -1, -1):
            later = torch.addcmul(grad_h[:, t], a[:, t + 1], later, out=grad[:, t])
        grad_a = torch.empty_like(h)
        torch.mul(grad[:, 1:], h[:, :-1], out=grad_a[:, 1:])
        torch.mul(grad[:, 0], h0, out=grad_a[:, 0])
        # a = 1 - s and b = s g(c) give dL/ds = dL/db g(c) - dL/da; s = sigmoid(u): ds/du = s (1 - s) = s a.
        grad_u = (grad * g(candidate) - grad_a).mul_(mix * a)
        grad_k = torch.empty_like(k)
        width = h.size(-1)
        torch.mul(grad * mix, _g_derivative(candidate), out=grad_k[..., -width:])
        if ctx.kind == "mingru":
            grad_k[..., :width] = grad_u
        else:  # u = softplus(-k_f) - softplus(-k_i): du/dk_f = -sigmoid(-k_f), du/dk_i = sigmoid(-k_i)
            torch.mul(grad_u, torch.sigmoid(-k[..., :width]), out=grad_k[..., :width]).neg_()
            torch.mul(grad_u, torch.sigmoid(-k[..., width : 2 * width]), out=grad_k[..., width : 2 * width])
        return grad_k, grad[:, 0] * a[:, 0], None, None


def gated_loop(
    kind: str, k: torch.Tensor, h0: torch.Tensor | None, mask: torch.Tensor | None
) -> torch.Tensor:
    """All states [B, T, H] of minGRU/minLSTM from the input projection ``k`` (see :class:`_GatedLoop`);
    ``mask`` [B, T] marks real steps."""
    batch, width = k.shape[0], k.shape[2] // (2 if kind == "mingru" else 3)
    start = k.new_zeros(batch, width) if h0 is None else at_least_fp32(h0).to(k.dtype)
    return _GatedLoop.apply(k.contiguous(), start, mask, kind)


def step_by_step(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The same states one step at a time with plain autograd: the reference the two fast paths are
    tested against, and generation's path (one step per call)."""
    h = a.new_zeros(a.shape[0], a.shape[2]) if h0 is None else at_least_fp32(h0)
    outputs = []
    for t in range(a.size(1)):
        h = a[:, t] * h + b[:, t]
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def scanned(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The same states by torch's ``scan`` operator: the loop over time of exported graphs, which
    ``torch.export`` and ONNX (``Scan``) keep with a dynamic length. One padding step (``a = 1, b = 0``)
    is appended and dropped, so the scan is never shorter than two steps."""
    from torch._higher_order_ops.scan import scan

    batch, steps, width = a.shape
    a = torch.cat([a, a.new_ones(batch, 1, width)], 1).transpose(0, 1)
    b = torch.cat([b, b.new_zeros(batch, 1, width)], 1).transpose(0, 1)
    start = a.new_zeros(batch, width) if h0 is None else at_least_fp32(h0).to(a.dtype)

    def step(h: torch.Tensor, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h = xs[0] * h + xs[1]
        return h.clone(), h.clone()

    _, states = scan(step, start, [a, b])
    return states.transpose(0, 1)[:, :steps]
