"""Minimal gated recurrent cells trained by a parallel scan: minGRU and minLSTM.

Feng et al. 2024, "Were RNNs All We Needed?" (arXiv 2410.01201): when the gates and the candidate
depend on the input alone, the recurrence ``h_t = a_t * h_{t-1} + b_t`` is linear in ``h`` and the
whole sequence can be computed at once, in log space for stability::

    log h_t = A_t + logcumsumexp_k<=t(log b_k - A_k),   A_t = sum_k<=t log a_k

Candidates go through ``g(x) = x + 1/2`` (x >= 0), ``sigmoid(x)`` (x < 0), so every ``b`` is positive
and has a logarithm. Two implementations of the same recurrence, both in float32 even under autocast:

* :func:`log_space_scan`, the parallel scan above (pure PyTorch): the default on GPU, where a whole
  sequence costs a handful of kernels;
* :func:`linear_recurrence`, a loop over time in linear space with a hand-written backward: the
  default on CPU, where ``logcumsumexp`` runs scalar code per element while a time step of
  ``a * h + b`` over [B, H] is one vectorised call (about 10x faster at T = 2,048, H = 1,024).
  It is stable because ``0 < a <= 1`` and the gates make ``h`` a convex mix of candidates.

Generation and decoding run one step at a time with a carried state like any RNN. Padded steps get
``a = 1, b = 0``: they leave the state unchanged, no packing needed.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

ScanCell = Literal["mingru", "minlstm"]
Path = Literal["auto", "scan", "loop", "steps"]
SCAN_CELLS: tuple[str, ...] = ("mingru", "minlstm")
# log b on padded steps: exp() of it is exactly 0 in float32, and unlike -inf it keeps gradients finite.
_NO_INPUT = -1e4
# Steps per piece of the scan (see :func:`scan`); long windows are a few such pieces in sequence.
SCAN_CHUNK = 256


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
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
        log_b = F.pad(log_b, (0, 0, 0, pad), value=_NO_INPUT)
    log_a, log_b = log_a.view(batch, pieces, size, width), log_b.view(batch, pieces, size, width)
    a_star = log_a.cumsum(dim=2)
    local = (a_star + torch.logcumsumexp(log_b - a_star, dim=2)).exp()  # each piece from a zero state
    decay = a_star.exp()
    carry = log_a.new_zeros(batch, width) if h0 is None else _at_least_fp32(h0)
    carries = []
    for piece in range(pieces):
        carries.append(carry)
        carry = decay[:, piece, -1] * carry + local[:, piece, -1]
    h = local + decay * torch.stack(carries, dim=1).unsqueeze(2)
    return h.view(batch, pieces * size, width)[:, :steps]


class _LinearRecurrence(torch.autograd.Function):
    """``h_t = a_t h_{t-1} + b_t`` by a loop over time, writing into one preallocated tensor; the
    backward is the adjoint recurrence ``g_t = dL/dh_t + a_{t+1} g_{t+1}`` (one more loop), with
    ``dL/db_t = g_t`` and ``dL/da_t = g_t h_{t-1}``: two loops of T vector calls, no graph of T nodes."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        h = torch.empty_like(b)
        previous = h0
        for t in range(a.size(1)):
            previous = torch.addcmul(b[:, t], a[:, t], previous, out=h[:, t])
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, h, h0 = ctx.saved_tensors
        grad = torch.empty_like(grad_h)
        later = grad[:, -1].copy_(grad_h[:, -1])
        for t in range(a.size(1) - 2, -1, -1):
            later = torch.addcmul(grad_h[:, t], a[:, t + 1], later, out=grad[:, t])
        before = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)
        return grad * before, grad, grad[:, 0] * a[:, 0]


def linear_recurrence(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The states of ``h_t = a_t h_{t-1} + b_t`` for coefficients [B, T, H], by :class:`_LinearRecurrence`."""
    start = a.new_zeros(a.shape[0], a.shape[2]) if h0 is None else _at_least_fp32(h0)
    return _LinearRecurrence.apply(a.contiguous(), b.contiguous(), start)


def step_by_step(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """The same states one step at a time with plain autograd: the reference the two fast paths are
    tested against, and generation's path (one step per call)."""
    h = a.new_zeros(a.shape[0], a.shape[2]) if h0 is None else _at_least_fp32(h0)
    outputs = []
    for t in range(a.size(1)):
        h = a[:, t] * h + b[:, t]
        outputs.append(h)
    return torch.stack(outputs, dim=1)


class MinimalGatedCell(nn.Module):
    """One direction of minGRU or minLSTM over [B, T, F] inputs.

    minGRU: ``z = sigmoid(W_z x)``, ``h = (1 - z) h + z g(W_h x)``. minLSTM: forget and input gates
    ``f, i = sigmoid(W_f x), sigmoid(W_i x)`` normalised to ``f / (f + i)`` and ``i / (f + i)`` (the
    paper's length-independent scaling), ``h = f' h + i' g(W_h x)``. No hidden-to-hidden weights.
    """

    def __init__(self, kind: ScanCell, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if kind not in SCAN_CELLS:
            raise ValueError(f"scan cell must be one of {SCAN_CELLS}, got {kind!r}")
        self.kind, self.hidden_size = kind, hidden_size
        self.linear = nn.Linear(input_size, (2 if kind == "mingru" else 3) * hidden_size)

    def coefficients(self, x: torch.Tensor, log_space: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``a``, ``b`` [B, T, H] (float32 or wider) of the recurrence for inputs ``x``, or their logs."""
        parts = _at_least_fp32(self.linear(x)).chunk(2 if self.kind == "mingru" else 3, dim=-1)
        candidate = parts[-1]
        if self.kind == "mingru":
            # a = 1 - z = sigmoid(-k); log z = k + log(1 - z).
            if log_space:
                log_a = -F.softplus(parts[0])
                return log_a, parts[0] + log_a + log_g(candidate)
            z = torch.sigmoid(parts[0])
            return 1 - z, z * g(candidate)
        # log f' = -log(1 + i/f), log i' = -log(1 + f/i), with log(i/f) = softplus(-k_f) - softplus(-k_i).
        ratio = F.softplus(-parts[0]) - F.softplus(-parts[1])
        if log_space:
            return -F.softplus(ratio), -F.softplus(-ratio) + log_g(candidate)
        forget = torch.sigmoid(-ratio)
        return forget, (1 - forget) * g(candidate)

    def forward(
        self,
        x: torch.Tensor,
        h0: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        path: Path = "auto",
    ) -> torch.Tensor:
        """States [B, T, H] (float32 or wider); ``mask`` [B, T] marks real steps (padding keeps the state).

        ``path``: ``auto`` (the log-space scan on GPU, the linear loop on CPU, plain steps for T = 1),
        ``scan``, ``loop`` or ``steps``.
        """
        if path == "auto":
            path = "steps" if x.size(1) == 1 else ("scan" if x.is_cuda else "loop")
        log_space = path == "scan"
        with torch.autocast(x.device.type, enabled=False):
            a, b = self.coefficients(x, log_space)
            if mask is not None:
                keep = mask.unsqueeze(-1)
                a = a.masked_fill(~keep, 0.0 if log_space else 1.0)
                b = b.masked_fill(~keep, _NO_INPUT if log_space else 0.0)
            if path == "scan":
                return log_space_scan(a, b, h0)
            return (linear_recurrence if path == "loop" else step_by_step)(a, b, h0)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``x`` [B, T, ...] with each sequence's first ``lengths[b]`` steps reversed in place (padding
    stays at the end), so a backward direction reads real steps only; applying it twice is identity."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)
    lengths = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class ScanLayer(nn.Module):
    """One layer of scan cells, optionally bidirectional: the stack's unit for ``mingru``/``minlstm``.

    Takes and returns states shaped like torch's recurrent layers ([directions, B, H]), so TBPTT
    carries, checkpoints and seq2seq bridges them exactly as a GRU's.
    """

    def __init__(self, kind: ScanCell, input_size: int, hidden_size: int, bidirectional: bool) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList(MinimalGatedCell(kind, input_size, hidden_size) for _ in range(directions))

    def forward(
        self,
        x: torch.Tensor,
        state: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        path: Path = "auto",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs [B, T, directions * H] (zero on padding) and final states [directions, B, H]."""
        mask = None
        if lengths is not None:
            mask = torch.arange(x.size(1), device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
        outputs, finals = [], []
        for direction, cell in enumerate(self.cells):
            h0 = None if state is None else state[direction]
            source = x if direction == 0 else reverse_padded(x, lengths)
            h = cell(source, h0, mask, path)
            # Padded steps kept the state, so the last step holds every sequence's final state.
            finals.append(h[:, -1])
            outputs.append(h if direction == 0 else reverse_padded(h, lengths))
        out = torch.cat(outputs, dim=-1)
        if mask is not None:
            out = out * mask.unsqueeze(-1)
        # The scan ran in float32; hand back the caller's dtype (float32 under autocast).
        return out.to(x.dtype), torch.stack(finals).to(x.dtype)
