"""ONNX for seqlab's own operators: ``seqlab::recurrent_layer`` (:mod:`seqlab.nn.padded_recurrence`)
becomes ONNX's ``LSTM``/``GRU``/``RNN`` with ``sequence_lens``, whose padding rules are packing's: each
direction sees only a sequence's own steps, final states are those at its last step.

torch orders gates ``i, f, g, o`` (LSTM) and ``r, z, n`` (GRU); ONNX ``i, o, f, c`` and ``z, r, h``.
The weights are re-ordered by constant row gathers, which ONNX Runtime folds when it loads the graph.
"""

from __future__ import annotations

from typing import Any

import torch

GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn_tanh": (0,), "rnn_relu": (0,)}


def _rows(order: tuple[int, ...], hidden_size: int) -> list[int]:
    """Row indices that put torch's gate blocks into ONNX's order."""
    return [gate * hidden_size + row for gate in order for row in range(hidden_size)]


def recurrent_layer_onnx(
    x: Any,
    lengths: Any,
    h0: Any,
    c0: Any,
    weights: Any,
    cell: str,
    hidden_size: int,
    bidirectional: bool,
) -> tuple[Any, Any, Any]:
    """The translation of ``seqlab::recurrent_layer`` (see the module docstring)."""
    from onnxscript import opset18 as op

    rows = op.Constant(value_ints=_rows(GATE_ORDER[cell], hidden_size))
    directions = 2 if bidirectional else 1
    w, r, b = [], [], []
    for d in range(directions):
        w_ih, w_hh, b_ih, b_hh = weights[4 * d : 4 * d + 4]
        w.append(op.Unsqueeze(op.Gather(w_ih, rows, axis=0), [0]))
        r.append(op.Unsqueeze(op.Gather(w_hh, rows, axis=0), [0]))
        bias = op.Concat(op.Gather(b_ih, rows, axis=0), op.Gather(b_hh, rows, axis=0), axis=0)
        b.append(op.Unsqueeze(bias, [0]))
    W, R, B = (parts[0] if directions == 1 else op.Concat(*parts, axis=0) for parts in (w, r, b))
    steps_first = op.Transpose(x, perm=[1, 0, 2])
    seq_lens = op.Cast(lengths, to=6)  # int32, as ONNX wants
    direction = "bidirectional" if bidirectional else "forward"
    if cell == "lstm":
        y, h, c = op.LSTM(
            steps_first, W, R, B, seq_lens, h0, c0, hidden_size=hidden_size, direction=direction
        )
    elif cell == "gru":
        y, h = op.GRU(
            steps_first,
            W,
            R,
            B,
            seq_lens,
            h0,
            hidden_size=hidden_size,
            direction=direction,
            linear_before_reset=1,
        )
        c = op.ConstantOfShape(op.Shape(h))
    else:
        activation = "Tanh" if cell == "rnn_tanh" else "Relu"
        y, h = op.RNN(
            steps_first,
            W,
            R,
            B,
            seq_lens,
            h0,
            hidden_size=hidden_size,
            direction=direction,
            activations=[activation] * directions,
        )
        c = op.ConstantOfShape(op.Shape(h))
    # y: [T, directions, B, H] -> [B, T, directions * H]
    out = op.Reshape(op.Transpose(y, perm=[2, 0, 1, 3]), op.Constant(value_ints=[0, 0, -1]))
    return out, h, c


def translation_table() -> dict[Any, Any]:
    """What :func:`torch.onnx.export` is given as ``custom_translation_table``."""
    import seqlab.nn.padded_recurrence  # noqa: F401  (registers the operator)

    return {torch.ops.seqlab.recurrent_layer.default: recurrent_layer_onnx}
