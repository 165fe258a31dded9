"""Section ``cudnn``: each recurrent cell computes the same forward pass on the device as on CPU.

Why: the classic cells run cuDNN's fused kernels on GPU and oneDNN's on CPU, the scan cells a
different code path again; a checkpoint trained on one must mean the same on the other. Every value of
``typing.get_args(seqlab.nn.recurrent.Cell)`` (new cells are picked up by themselves) builds a
2-layer bidirectional ``RecurrentStack`` from one seed, and runs one padded batch (lengths given)
in float32 on CPU and on the device, TF32 off. Reported: the largest absolute difference of the
outputs and of the final states; FAIL above ``TOLERANCE``. On ``--device cpu`` the comparison is
CPU float32 against CPU float64 instead (a smoke test of the same code).
"""

from __future__ import annotations

import copy
import time
import typing

from gpu_check.common import Context, Emitter

TOLERANCE = 1e-4
INPUT, HIDDEN, LAYERS = 24, 48, 2
LENGTHS = (37, 30, 17, 5, 1)  # the longest first is not required: the stack packs unsorted batches


def flat_state(state: typing.Any) -> list[typing.Any]:
    return list(state) if isinstance(state, tuple) else [state]


def compare(cell: str, device: str) -> tuple[float, float]:
    """Max |difference| of outputs and of final states between CPU float32 and ``device``."""
    import torch

    from seqlab.nn.recurrent import RecurrentStack

    torch.manual_seed(0)
    stack = RecurrentStack(cell, INPUT, HIDDEN, num_layers=LAYERS, bidirectional=True).eval()  # type: ignore[arg-type]
    x = torch.randn(len(LENGTHS), max(LENGTHS), INPUT)
    lengths = torch.tensor(LENGTHS)
    with torch.no_grad():
        ref_out, ref_state = stack(x, lengths=lengths)
        if device == "cpu":  # nothing else to compare with: float64 on the same CPU
            other = copy.deepcopy(stack).double()
            out, state = other(x.double(), lengths=lengths)
        else:
            other = copy.deepcopy(stack).to(device)
            out, state = other(x.to(device), lengths=lengths.to(device))
    out_diff = (out.cpu().float() - ref_out).abs().max().item()
    state_diff = max(
        (a.cpu().float() - b).abs().max().item()
        for a, b in zip(flat_state(state), flat_state(ref_state), strict=True)
    )
    return out_diff, state_diff


def run(ctx: Context, emit: Emitter) -> None:
    import torch

    from seqlab.nn.recurrent import Cell

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    against = "cpu fp32 vs cpu fp64" if ctx.accelerator == "cpu" else f"cpu fp32 vs {ctx.device} fp32"
    shape = f"B={len(LENGTHS)} T<={max(LENGTHS)} padded, {LAYERS}x{HIDDEN} bidir"
    for cell in typing.get_args(Cell):
        with emit.guard(cell):
            start = time.perf_counter()
            out_diff, state_diff = compare(cell, ctx.device if ctx.accelerator == "cuda" else "cpu")
            ok = max(out_diff, state_diff) <= TOLERANCE
            diffs = f"max|d| out {out_diff:.1e}, state {state_diff:.1e}"
            detail = f"{diffs} (tol {TOLERANCE:.0e}; {against}, {shape})"
            emit.row(cell, "OK" if ok else "FAIL", detail, time.perf_counter() - start)
