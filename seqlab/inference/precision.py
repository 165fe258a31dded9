"""How a model runs on this machine: torch's thread count, and the arithmetic (``fp32``, ``bf16``
autocast, ``int8`` dynamic quantization) — one place, used by every inference verb through
``inference.loader.load_for_verb`` and by ``benchmarks/decode_speed.py``, so that the precision
measured is the precision a user gets.

Which precision is fastest depends on the CPU (bf16 autocast made beam search slower on a CPU with
AVX-512 bf16, since the per-step cells are not fused in bf16): measure, do not assume.
"""

from __future__ import annotations

import contextlib
from typing import TypeVar

import torch
from torch import nn

from seqlab.engine.errors import UserError
from seqlab.inference.options import Precision

Module = TypeVar("Module", bound=nn.Module)

QUANTIZED_LAYERS = {nn.Linear, nn.LSTM}  # the layers torch's dynamic int8 quantization has kernels for


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads on the CPU (``None``: leave torch's choice)."""
    if threads is not None:
        torch.set_num_threads(threads)


def check_precision(precision: Precision, device: str | torch.device) -> None:
    """Refuse a precision this device cannot run, before the model is loaded."""
    if precision == "int8" and torch.device(device).type != "cpu":
        raise UserError(f"--precision int8 runs on the CPU only (quantized kernels); got --device {device}")


def with_precision(model: Module, precision: Precision) -> Module:
    """``model`` ready to run at ``precision``: for ``int8`` its Linear and LSTM layers are replaced in
    place by dynamically quantized ones (int8 weights, activations scaled per batch); ``fp32`` and
    ``bf16`` leave the weights as they are (``bf16`` is autocast, :func:`autocast`)."""
    if precision == "int8":
        torch.ao.quantization.quantize_dynamic(model, QUANTIZED_LAYERS, dtype=torch.qint8, inplace=True)
    return model


def autocast(precision: Precision, device: str | torch.device) -> contextlib.AbstractContextManager:
    """The context to run the model in: bf16 autocast on ``device``'s type for ``bf16``, else none."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
