"""Every classic cell, one and two directions, two layers: a RecurrentStack exported (ONNX through
``seqlab::recurrent_layer``'s translation, and torch.export) on one batch gives, on another batch
with other lengths and a longer padded length, the outputs and final states of the packed PyTorch run.

Tried: padding inside the batch (lengths 9, 1, 4, 8, 2) so that a backward direction or a final state
that saw padding would differ; a batch size and length unlike the traced ones (dynamic shapes)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from seqlab.inference.export.onnx_ops import translation_table
from seqlab.nn.padded_recurrence import padded_graph_mode
from seqlab.nn.recurrent import RecurrentStack


class _Stack(torch.nn.Module):
    def __init__(self, cell: str, bidirectional: bool) -> None:
        super().__init__()
        self.stack = RecurrentStack(cell, 6, 8, num_layers=2, bidirectional=bidirectional)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, state = self.stack(x, lengths=lengths)
        return (out, *state) if isinstance(state, tuple) else (out, state)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_exported_stack_equals_packed_run(cell: str, bidirectional: bool, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Stack(cell, bidirectional).eval()
    traced = (torch.randn(3, 7, 6), torch.tensor([7, 3, 5]))
    shapes = ({0: torch.export.Dim("batch"), 1: torch.export.Dim("steps")}, {0: torch.export.Dim("batch")})
    with padded_graph_mode(), torch.no_grad():
        onnx_program = torch.onnx.export(
            model, traced, dynamo=True, dynamic_shapes=shapes, custom_translation_table=translation_table()
        )
        program = torch.export.export(model, traced, dynamic_shapes=shapes)
    onnx_program.save(str(tmp_path / "stack.onnx"))
    session = ort.InferenceSession(str(tmp_path / "stack.onnx"))
    x, lengths = torch.randn(5, 9, 6), torch.tensor([9, 1, 4, 8, 2])
    with torch.no_grad():
        expected = model(x, lengths)
        exported = program.module()(x, lengths)
    names = [i.name for i in session.get_inputs()]
    from_onnx = session.run(None, dict(zip(names, (x.numpy(), lengths.numpy()), strict=True)))
    for want, got_torch, got_onnx in zip(expected, exported, from_onnx, strict=True):
        assert torch.equal(want, got_torch)
        torch.testing.assert_close(torch.from_numpy(got_onnx), want, atol=1e-5, rtol=1e-4)
    assert not expected[0][1, 1:].any()  # outputs are zero on padding, in every form
