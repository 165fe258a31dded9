"""A recurrent stack over torch's fused kernels (cuDNN on GPU, oneDNN on CPU)."""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["rnn_tanh", "rnn_relu", "lstm", "gru"]
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def detach_state(state: State | None) -> State | None:
    """Cut the autograd history of a carried hidden state (the truncation in truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


@functools.cache
def cpu_bf16_lstm_works() -> bool:
    """Whether this CPU's oneDNN has a bf16 LSTM kernel. On an AVX2-only AMD EPYC (no AVX-512)
    ``nn.LSTM`` under CPU bf16 autocast fails with "could not create a primitive descriptor"; probed
    once on a tiny LSTM."""
    probe = nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            probe(torch.zeros(1, 2, 2))
    except RuntimeError:
        return False
    return True


def _needs_fp32_lstm(rnn: nn.Module, x: torch.Tensor) -> bool:
    """An LSTM about to run under CPU bf16 autocast on a CPU without the bf16 kernel."""
    if not (isinstance(rnn, nn.LSTM) and x.device.type == "cpu" and torch.is_autocast_enabled("cpu")):
        return False
    if torch.get_autocast_dtype("cpu") != torch.bfloat16 or cpu_bf16_lstm_works():
        return False
    warnings.warn(
        "oneDNN has no bf16 LSTM kernel for this CPU: the LSTM layers run in float32, "
        "the rest of the model in bf16; `--trainer.precision 32-true` avoids the mixed casts",
        stacklevel=3,
    )
    return True


class RecurrentStack(nn.Module):
    """Stacked (optionally bidirectional) RNN/LSTM/GRU with dropout between layers.

    Args:
        cell: ``rnn_tanh``, ``rnn_relu``, ``lstm`` or ``gru``.
        input_size: features per input step.
        hidden_size: features per direction and layer.
        num_layers: stacked layers.
        dropout: dropout on the outputs of every layer but the last.
        bidirectional: run a second direction backwards in time.
        orthogonal_init: initialise recurrent (hidden-to-hidden) matrices orthogonally, per gate.
        forget_bias: LSTM forget-gate bias at initialisation (``None`` keeps torch's default).
    """

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        orthogonal_init: bool = True,
        forget_bias: float | None = 1.0,
    ) -> None:
        super().__init__()
        kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}
        if cell not in kinds:
            raise ValueError(f"cell must be one of {sorted(kinds)}, got {cell!r}")
        extra = {"nonlinearity": cell.split("_")[1]} if cell.startswith("rnn") else {}
        self.cell = cell
        self.rnn = kinds[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            **extra,
        )
        self.hidden_size, self.num_layers, self.bidirectional = hidden_size, num_layers, bidirectional
        self.reset_parameters(orthogonal_init, forget_bias)

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    def reset_parameters(self, orthogonal_init: bool, forget_bias: float | None) -> None:
        gates = {"lstm": 4, "gru": 3}.get(self.cell, 1)
        for name, param in self.rnn.named_parameters():
            if name.startswith("weight_hh") and orthogonal_init:
                for gate in param.data.chunk(gates, dim=0):
                    nn.init.orthogonal_(gate)
            if self.cell == "lstm" and forget_bias is not None and name.startswith("bias_"):
                # Gates are ordered input, forget, cell, output; both biases add, so split the value.
                param.data[self.hidden_size : 2 * self.hidden_size] = forget_bias / 2

    def forward(
        self, x: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Run over ``x`` [B, T, F]; with ``lengths``, padding is packed away and outputs are zero there."""
        if _needs_fp32_lstm(self.rnn, x):
            with torch.autocast("cpu", enabled=False):
                state = None if state is None else tuple(s.float() for s in state)
                return self._run(x.float(), state, lengths)
        return self._run(x, state, lengths)

    def _run(
        self, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, state
