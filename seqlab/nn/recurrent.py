"""A recurrent stack: torch's fused kernels (cuDNN on GPU, oneDNN on CPU) for the classic cells, the
parallel-scan cells of :mod:`seqlab.nn.scan_cells`, and per-layer normalisation and residuals."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.nn.errors import NetSettingError
from seqlab.nn.padded_recurrence import graph_mode_active, run_layer_padded
from seqlab.nn.pooling import lengths_to_mask
from seqlab.nn.scan_cells import SCAN_CELLS, ScanLayer

Cell = Literal["rnn_tanh", "rnn_relu", "lstm", "gru", "mingru", "minlstm"]
CELLS: tuple[str, ...] = ("rnn_tanh", "rnn_relu", "lstm", "gru", *SCAN_CELLS)
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
    """Stacked (optionally bidirectional) recurrent layers with dropout between layers.

    The classic cells without ``layer_norm``/``residual`` run as one fused multi-layer module
    (``self.rnn``). Otherwise every layer is its own unit in ``self.layers``: ``LayerNorm`` of the layer's
    input (pre-norm), the cell, and the input added back (a ``Linear`` shortcut where widths differ):
    the deep stack the scan cells need, also open to the classic cells. States are shaped as torch's
    ([layers * directions, B, H], a pair for LSTM) either way.

    Args:
        cell: ``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru`` or the scan cells ``mingru``, ``minlstm``.
        input_size: features per input step.
        hidden_size: features per direction and layer.
        num_layers: stacked layers.
        dropout: dropout on the outputs of every layer but the last.
        bidirectional: run a second direction backwards in time.
        orthogonal_init: initialise recurrent (hidden-to-hidden) matrices orthogonally, per gate
            (classic cells; the scan cells have none).
        forget_bias: LSTM forget-gate bias at initialisation (``None`` keeps torch's default).
        layer_norm: normalise each layer's input (``None``: on for the scan cells, off otherwise).
        residual: add each layer's input to its output (``None``: on for the scan cells, off otherwise).
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
        layer_norm: bool | None = None,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise NetSettingError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
        scan = cell in SCAN_CELLS
        self.cell = cell
        self.hidden_size, self.num_layers, self.bidirectional = hidden_size, num_layers, bidirectional
        self.layer_norm = scan if layer_norm is None else layer_norm
        self.residual = scan if residual is None else residual
        self.per_layer = scan or self.layer_norm or self.residual
        if not self.per_layer:
            self.rnn = _classic(cell, input_size, hidden_size, num_layers, dropout, bidirectional)
            _init_classic(self.rnn, cell, hidden_size, orthogonal_init, forget_bias)
            return
        width, out = input_size, self.output_size
        self.layers, self.norms, self.shortcuts = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for _ in range(num_layers):
            layer = (
                ScanLayer(cell, width, hidden_size, bidirectional)  # type: ignore[arg-type]
                if scan
                else _classic(cell, width, hidden_size, 1, 0.0, bidirectional)
            )
            if not scan:
                _init_classic(layer, cell, hidden_size, orthogonal_init, forget_bias)
            self.layers.append(layer)
            self.norms.append(nn.LayerNorm(width) if self.layer_norm else nn.Identity())
            self.shortcuts.append(nn.Linear(width, out) if self.residual and width != out else nn.Identity())
            width = out
        self.drop = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, config: Any, input_size: int) -> RecurrentStack:
        """The stack a model's config describes (``cell``, ``hidden_size`` and whichever of the other
        arguments it has as fields; the rest keep their defaults)."""
        names = (
            "num_layers",
            "dropout",
            "bidirectional",
            "orthogonal_init",
            "forget_bias",
            "layer_norm",
            "residual",
        )
        options = {name: getattr(config, name) for name in names if hasattr(config, name)}
        return cls(config.cell, input_size, config.hidden_size, **options)

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    def forward(
        self, x: torch.Tensor, state: State | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Run over ``x`` [B, T, F]; with ``lengths``, padding is left out and outputs are zero there."""
        if not self.per_layer:
            return _run_classic(self.rnn, x, state, lengths)
        directions = 2 if self.bidirectional else 1
        finals: list[State] = []
        for index, (layer, norm, shortcut) in enumerate(
            zip(self.layers, self.norms, self.shortcuts, strict=True)
        ):
            part = _layer_state(state, index, directions)
            if isinstance(layer, ScanLayer):
                y, final = layer(norm(x), part, lengths)
            else:
                y, final = _run_classic(layer, norm(x), part, lengths)
            if index < self.num_layers - 1:
                y = self.drop(y)
            if self.residual:
                y = y + shortcut(x)
                if lengths is not None:  # padded steps stay zero, as in the fused stack
                    y = y * lengths_to_mask(lengths.to(y.device), x.size(1)).unsqueeze(-1).to(y.dtype)
            finals.append(final)
            x = y
        return x, _join_states(finals)


def _classic(
    cell: str, input_size: int, hidden_size: int, layers: int, dropout: float, bidir: bool
) -> nn.RNNBase:
    """torch's fused module for a classic cell."""
    kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}
    extra = {"nonlinearity": cell.split("_")[1]} if cell.startswith("rnn") else {}
    return kinds[cell](
        input_size,
        hidden_size,
        num_layers=layers,
        batch_first=True,
        dropout=dropout if layers > 1 else 0.0,
        bidirectional=bidir,
        **extra,
    )


def _init_classic(
    rnn: nn.Module, cell: str, hidden_size: int, orthogonal_init: bool, forget_bias: float | None
) -> None:
    """Orthogonal recurrent matrices per gate, and the LSTM forget-gate bias."""
    gates = {"lstm": 4, "gru": 3}.get(cell, 1)
    for name, param in rnn.named_parameters():
        if name.startswith("weight_hh") and orthogonal_init:
            for gate in param.data.chunk(gates, dim=0):
                nn.init.orthogonal_(gate)
        if cell == "lstm" and forget_bias is not None and name.startswith("bias_"):
            # Gates are ordered input, forget, cell, output; both biases add, so split the value.
            param.data[hidden_size : 2 * hidden_size] = forget_bias / 2


def _run_classic(
    rnn: nn.Module, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, State]:
    """A fused module over ``x``, packing padding away, in float32 where the CPU lacks bf16 LSTM (or, in
    an exported graph, as :mod:`seqlab.nn.padded_recurrence`'s operator)."""
    if graph_mode_active():
        return run_layer_padded(rnn, x, state, lengths)
    if _needs_fp32_lstm(rnn, x):
        with torch.autocast("cpu", enabled=False):
            state = None if state is None else tuple(s.float() for s in state)  # type: ignore[union-attr]
            return _run_packed(rnn, x.float(), state, lengths)
    return _run_packed(rnn, x, state, lengths)


def _run_packed(
    rnn: nn.Module, x: torch.Tensor, state: State | None, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, State]:
    if lengths is None:
        return rnn(x, state)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, state


def _layer_state(state: State | None, index: int, directions: int) -> State | None:
    """Layer ``index``'s slice [directions, B, H] of a whole-stack state."""
    if state is None:
        return None
    rows = slice(index * directions, (index + 1) * directions)
    if isinstance(state, tuple):
        return tuple(s[rows] for s in state)  # type: ignore[return-value]
    return state[rows]


def _join_states(finals: list[State]) -> State:
    """Per-layer final states stacked layer-major, as torch's fused modules order them."""
    if isinstance(finals[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*finals, strict=True))  # type: ignore[return-value]
    return torch.cat(finals)  # type: ignore[arg-type]
