"""One recurrent layer as one operator over padded tensors and their lengths, for exported graphs.

Training and the PyTorch verbs pack padding away (``PackedSequence``), which no exported graph can
hold; running the fused kernel over the padding instead would be wrong (a backward direction would
start on padding, and final states would be those after the padding). So for export every classic
layer of a :class:`~seqlab.nn.recurrent.RecurrentStack` becomes one call of ``seqlab::recurrent_layer``:
padded input, lengths and weights in; outputs (zero on padding) and each sequence's final state out.
In PyTorch (a ``torch.export`` program) it runs the same packed kernel as training; ONNX export
translates it to ONNX's own ``LSTM``/``GRU``/``RNN`` with ``sequence_lens``
(:mod:`seqlab.inference.export.onnx_ops`), which keep padding out exactly the same way.

:func:`padded_graph_mode` switches the stacks to it while a graph is traced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

_ACTIVE = False


@contextlib.contextmanager
def padded_graph_mode() -> Iterator[None]:
    """While active, classic recurrent layers run as ``seqlab::recurrent_layer`` (see the module)."""
    global _ACTIVE
    before, _ACTIVE = _ACTIVE, True
    try:
        yield
    finally:
        _ACTIVE = before


def graph_mode_active() -> bool:
    return _ACTIVE


@torch.library.custom_op("seqlab::recurrent_layer", mutates_args=())
def recurrent_layer(
    x: torch.Tensor,
    lengths: torch.Tensor,
    h0: torch.Tensor | None,
    c0: torch.Tensor | None,
    weights: list[torch.Tensor],
    cell: str,
    hidden_size: int,
    bidirectional: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer of ``cell`` (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``) over ``x`` [B, T, F]
    with ``lengths`` [B]: outputs [B, T, H * directions] (zero on padding), final ``h`` and ``c``
    [directions, B, H] (``c`` is zeros for cells without one). ``weights`` are torch's order:
    ``w_ih, w_hh, b_ih, b_hh`` per direction."""
    directions = 2 if bidirectional else 1
    batch = x.size(0)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, back = packed.sorted_indices, packed.unsorted_indices
    zeros = x.new_zeros(directions, batch, hidden_size)
    h = (zeros if h0 is None else h0).index_select(1, order)
    args = (packed.data, packed.batch_sizes)
    flags = (True, 1, 0.0, False, bidirectional)  # biases, layers, dropout, training, bidirectional
    if cell == "lstm":
        c = (zeros if c0 is None else c0).index_select(1, order)
        data, h_n, c_n = torch.lstm(*args, (h, c), weights, *flags)
        c_n = c_n.index_select(1, back)
    else:
        run = {"gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}[cell]
        data, h_n = run(*args, h, weights, *flags)
        c_n = torch.zeros_like(h_n)
    out, _ = pad_packed_sequence(
        PackedSequence(data, packed.batch_sizes, order, back), batch_first=True, total_length=x.size(1)
    )
    return out, h_n.index_select(1, back), c_n


@recurrent_layer.register_fake
def _(
    x: torch.Tensor,
    lengths: torch.Tensor,
    h0: torch.Tensor | None,
    c0: torch.Tensor | None,
    weights: list[torch.Tensor],
    cell: str,
    hidden_size: int,
    bidirectional: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    directions = 2 if bidirectional else 1
    batch, steps = x.size(0), x.size(1)
    state = x.new_empty(directions, batch, hidden_size)
    return x.new_empty(batch, steps, hidden_size * directions), state, torch.empty_like(state)


def run_layer_padded(
    rnn: torch.nn.RNNBase,
    x: torch.Tensor,
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None,
    lengths: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """A torch fused module (any number of layers) as one ``seqlab::recurrent_layer`` per layer, with
    the same outputs and final states as running it packed (eval mode: no dropout between layers)."""
    cell = {"LSTM": "lstm", "GRU": "gru"}.get(type(rnn).__name__) or f"rnn_{rnn.nonlinearity}"
    directions = 2 if rnn.bidirectional else 1
    if lengths is None:
        lengths = torch.full((x.size(0),), x.size(1), dtype=torch.long, device=x.device)
    h0, c0 = (state if isinstance(state, tuple) else (state, None)) if state is not None else (None, None)
    finals_h, finals_c = [], []
    for layer in range(rnn.num_layers):
        rows = slice(layer * directions, (layer + 1) * directions)
        suffixes = [f"_l{layer}"] + ([f"_l{layer}_reverse"] if rnn.bidirectional else [])
        weights = [
            getattr(rnn, f"{kind}{suffix}")
            for suffix in suffixes
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        x, h, c = torch.ops.seqlab.recurrent_layer(
            x,
            lengths,
            None if h0 is None else h0[rows],
            None if c0 is None else c0[rows],
            weights,
            cell,
            rnn.hidden_size,
            rnn.bidirectional,
        )
        finals_h.append(h)
        finals_c.append(c)
    if cell == "lstm":
        return x, (torch.cat(finals_h), torch.cat(finals_c))
    return x, torch.cat(finals_h)
