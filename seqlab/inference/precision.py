"""How a model runs on this machine: torch's thread count, and the arithmetic (``fp32``, ``bf16``
autocast, ``int8`` dynamic quantization) — one place, used by every inference verb through
``inference.loader.load_for_verb`` and by ``benchmarks/decode_speed.py``, so that the precision
measured is the precision a user gets.

Which precision is fastest depends on the CPU and the search (on a Zen 5 with AVX-512 bf16, bf16
autocast made G2P beam search 1.9x faster than fp32 and greedy 3x slower; on a Zen 3 it slowed
both): measure, do not assume.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import nn

from seqlab.engine.errors import UserError
from seqlab.inference.options import Precision
from seqlab.nn.recurrent import cpu_bf16_lstm_works

Module = TypeVar("Module", bound=nn.Module)

QUANTIZED_LAYERS = {nn.Linear, nn.LSTM}  # the layers torch's dynamic int8 quantization has kernels for

# Warnings hidden while a verb quantizes and runs its model, each matched by its own words: torch's
# deprecations of ``torch.ao.quantization`` and of the quantized-tensor functions its own dynamic int8
# LSTM calls (nothing a user can change; the int8 path is tested, so its removal would show in the
# tests first), and seqlab's bf16-LSTM fallback warning, whose advice is for training: a verb says it
# once, in its own words, at load (:func:`precision_note`).
_HIDDEN_WHILE_RUNNING = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation",
    r"oneDNN has no bf16 LSTM kernel for this CPU",
)


@contextlib.contextmanager
def _hidden_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        for pattern in _HIDDEN_WHILE_RUNNING:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads on the CPU (``None``: leave torch's choice)."""
    if threads is not None:
        torch.set_num_threads(threads)


def check_precision(precision: Precision, device: str | torch.device) -> None:
    """Refuse a precision this device cannot run, before the model is loaded."""
    if precision == "int8" and str(device).split(":")[0] != "cpu":  # any other name, valid or not
        raise UserError(f"--precision int8 runs on the CPU only (quantized kernels); got --device {device}")


def with_precision(model: Module, precision: Precision) -> Module:
    """``model`` ready to run at ``precision``: for ``int8`` its Linear and LSTM layers are replaced in
    place by dynamically quantized ones (int8 weights, activations scaled per batch); ``fp32`` and
    ``bf16`` leave the weights as they are (``bf16`` is autocast, :func:`autocast`)."""
    if precision == "int8":
        with _hidden_warnings():
            torch.ao.quantization.quantize_dynamic(model, QUANTIZED_LAYERS, dtype=torch.qint8, inplace=True)
    return model


def precision_note(model: nn.Module, precision: Precision, device: str | torch.device) -> str | None:
    """What a user should know about running ``model`` at ``precision`` here, if anything: on a CPU
    without a bf16 LSTM kernel, bf16 runs the LSTM layers in float32 (and is often slower)."""
    if precision != "bf16" or torch.device(device).type != "cpu":
        return None
    if not any(isinstance(m, nn.LSTM) for m in model.modules()) or cpu_bf16_lstm_works():
        return None
    return "bf16: this CPU has no bf16 LSTM kernel, so the LSTM layers run in float32 and the rest in bf16"


def autocast(precision: Precision, device: str | torch.device) -> contextlib.AbstractContextManager:
    """The context to run the model in: bf16 autocast on ``device``'s type for ``bf16``, else none."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def precision_running(precision: Precision, device: str | torch.device) -> Iterator[None]:
    """Inference mode in ``precision``'s context, with the warnings of ``_HIDDEN_WHILE_RUNNING`` hidden."""
    with _hidden_warnings(), torch.inference_mode(), autocast(precision, device):
        yield
