"""Minimal gated recurrent cells trained by a parallel scan: minGRU and minLSTM.

Feng et al. 2024, "Were RNNs All We Needed?" (arXiv 2410.01201): when the gates and the candidate
depend on the input alone, the recurrence ``h_t = a_t * h_{t-1} + b_t`` is linear in ``h`` and the
whole sequence can be computed at once, in log space for stability::

    log h_t = A_t + logcumsumexp_k<=t(log b_k - A_k),   A_t = sum_k<=t log a_k

Candidates go through ``g(x) = x + 1/2`` (x >= 0), ``sigmoid(x)`` (x < 0), so every ``b`` is positive
and has a logarithm. The recurrence runs in float32 even under autocast, by the parallel scan above on
GPU and by a loop over time in linear space on CPU (:mod:`seqlab.nn.linear_recurrence` says why);
the loop is stable because ``0 < a <= 1`` and the gates make ``h`` a convex mix of candidates.

Generation and decoding run one step at a time with a carried state like any RNN. Padded steps get
``a = 1, b = 0``: they leave the state unchanged, no packing needed. While a graph is exported
(:func:`seqlab.nn.padded_recurrence.padded_graph_mode`) the recurrence runs as torch's ``scan``
operator, which keeps the length dynamic.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.nn.linear_recurrence import (
    NO_INPUT,
    at_least_fp32,
    g,
    gated_loop,
    log_g,
    log_space_scan,
    mix_and_candidate,
    scanned,
    step_by_step,
)
from seqlab.nn.padded_recurrence import graph_mode_active
from seqlab.nn.pooling import lengths_to_mask

ScanCell = Literal["mingru", "minlstm"]
Path = Literal["auto", "scan", "loop", "steps", "graph"]
SCAN_CELLS: tuple[str, ...] = ("mingru", "minlstm")


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

    def coefficients(self, k: torch.Tensor, log_space: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``a``, ``b`` [B, T, H] of the recurrence for the input projection ``k`` (float32 or wider),
        or their logs."""
        if not log_space:
            mix, candidate = mix_and_candidate(self.kind, k)
            return 1 - mix, mix * g(candidate)
        parts = k.chunk(2 if self.kind == "mingru" else 3, dim=-1)
        if self.kind == "mingru":  # log(1 - z) = -softplus(k_z), log z = k_z + log(1 - z)
            log_a = -F.softplus(parts[0])
            return log_a, parts[0] + log_a + log_g(parts[-1])
        # log f' = -log(1 + i/f), log i' = -log(1 + f/i), with log(i/f) = softplus(-k_f) - softplus(-k_i).
        ratio = F.softplus(-parts[0]) - F.softplus(-parts[1])
        return -F.softplus(ratio), -F.softplus(-ratio) + log_g(parts[-1])

    def forward(
        self,
        x: torch.Tensor,
        h0: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        path: Path = "auto",
    ) -> torch.Tensor:
        """States [B, T, H] (float32 or wider); ``mask`` [B, T] marks real steps (padding keeps the state).

        ``path``: ``auto`` (the log-space scan on GPU, the gated loop on CPU, plain steps for T = 1, the
        ``scan`` operator while a graph is exported), ``scan``, ``loop``, ``steps`` or ``graph``.
        """
        if path == "auto" and graph_mode_active():
            path = "graph"  # before any test of the length, which tracing would fix
        elif path == "auto":
            path = "steps" if x.size(1) == 1 else ("scan" if x.is_cuda else "loop")
        # The projection runs in the autocast dtype (the matrix work); the recurrence in float32.
        projected = self.linear(x)
        if path == "graph":  # traced in float32, where an autocast region would only burden the graph
            return self._recurrence(at_least_fp32(projected), h0, mask, path)
        with torch.autocast(x.device.type, enabled=False):
            return self._recurrence(at_least_fp32(projected), h0, mask, path)

    def _recurrence(
        self, k: torch.Tensor, h0: torch.Tensor | None, mask: torch.Tensor | None, path: Path
    ) -> torch.Tensor:
        if path == "loop":
            return gated_loop(self.kind, k, h0, mask)
        log_space = path == "scan"
        a, b = self.coefficients(k, log_space)
        if mask is not None:
            keep = mask.unsqueeze(-1)
            a = a.masked_fill(~keep, 0.0 if log_space else 1.0)
            b = b.masked_fill(~keep, NO_INPUT if log_space else 0.0)
        if log_space:
            return log_space_scan(a, b, h0)
        return scanned(a, b, h0) if path == "graph" else step_by_step(a, b, h0)


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
        mask = None if lengths is None else lengths_to_mask(lengths.to(x.device), x.size(1))
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
