"""Shared pieces of ``benchmarks/cells.py``: the machine, the cells that exist, equal-size models, data.

Kept apart from the two modes so that both describe the machine, pick hidden sizes and read the
corpora the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import typing
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from seqlab.data import CharTokenizer, LanguageModelData, PythonStdlib, TextFiles
from seqlab.nn import RecurrentLM, RecurrentLMConfig
from seqlab.nn.recurrent import Cell, cpu_bf16_lstm_works

CHARLM = Path("/work/shared/data/charlm")
WANTED_CELLS = ("lstm", "gru", "mingru", "minlstm")
SCAN_CELLS = ("mingru", "minlstm")
TOLERANCE = 0.02  # equal-parameter models may differ by this share of the reference's count


# ---- the machine --------------------------------------------------------------------------------
def cpu_name() -> str:
    """The CPU as /proc/cpuinfo names it, with family/model and the SIMD flags that decide bf16 speed."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    family = f"family {info.get('cpu family', '?')} model {info.get('model', '?')}"
    return f"{info.get('model name', 'unknown CPU')} ({family}; {' '.join(simd) or 'no AVX2'})"


def environment(threads: int) -> dict[str, Any]:
    """Everything a figure depends on besides the configuration; printed and saved with every result."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "lightning": L.__version__,
        "python": platform.python_version(),
        "cpu_bf16_lstm_kernel": cpu_bf16_lstm_works(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def describe(env: dict[str, Any]) -> str:
    lstm_bf16 = "yes" if env["cpu_bf16_lstm_kernel"] else "no (LSTM layers run fp32 under bf16 autocast)"
    return (
        f"CPU: {env['cpu']}, {env['cpu_count']} CPUs, {env['threads']} torch threads, "
        f"load average {env['load_average']:.1f} at start\n"
        f"torch {env['torch']}, lightning {env['lightning']}, python {env['python']}; "
        f"oneDNN bf16 LSTM kernel: {lstm_bf16}"
    )


def quiet() -> None:
    """The bf16 LSTM fallback warns on every new call site; the header states it once instead."""
    warnings.filterwarnings("ignore", message="oneDNN has no bf16 LSTM kernel")
    logging.getLogger("datasets").setLevel(logging.ERROR)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


# ---- cells and equal-size models ----------------------------------------------------------------
def available_cells(wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    """(cells seqlab has, cells asked for that it does not have yet): the scan cells land later."""
    known = set(typing.get_args(Cell))
    return [c for c in wanted if c in known], [c for c in wanted if c not in known]


def lm_kwargs(cell: str, hidden: int, args: Any, **extra: Any) -> dict[str, Any]:
    """RecurrentLM arguments; ``layer_norm``/``residual`` only when set and only where accepted, so the
    script also runs against a seqlab without them."""
    kwargs = {
        "cell": cell,
        "embedding_size": args.embedding_size,
        "hidden_size": hidden,
        "num_layers": args.layers,
        **extra,
    }
    accepted = {field.name for field in dataclasses.fields(RecurrentLMConfig)}
    for key in ("layer_norm", "residual"):
        value = getattr(args, key, None)
        if value is not None and key in accepted:
            kwargs[key] = value
    return kwargs


def count_params(vocab_size: int, kwargs: dict[str, Any]) -> int:
    """Parameters of a RecurrentLM, built on the meta device (no memory, no initialisation cost)."""
    with torch.device("meta"):
        model = RecurrentLM(vocab_size, RecurrentLMConfig(**kwargs))
    return sum(p.numel() for p in model.parameters())


def match_hidden(cell: str, target: int, vocab_size: int, args: Any, multiple: int = 8) -> tuple[int, int]:
    """The hidden size (a multiple of ``multiple``) whose model has the parameter count closest to
    ``target``, and that count. Parameters grow with hidden size, so a bisection finds it."""

    def params(units: int) -> int:
        return count_params(vocab_size, lm_kwargs(cell, units * multiple, args))

    low, high = 1, 1
    while params(high) < target:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if params(mid) < target else (low, mid)
    best = min((low, high), key=lambda u: abs(params(u) - target))
    return best * multiple, params(best)


def model_sizes(cells: Sequence[str], vocab_size: int, args: Any) -> dict[str, tuple[int, int]]:
    """cell -> (hidden size, parameters): the LSTM at ``--hidden-size``; every other cell at the LSTM's
    parameter count (``--match params``) or at the same hidden size (``--match hidden``)."""
    reference = count_params(vocab_size, lm_kwargs("lstm", args.hidden_size, args))
    sizes = {}
    for cell in cells:
        if cell == "lstm" or args.match == "hidden":
            params = count_params(vocab_size, lm_kwargs(cell, args.hidden_size, args))
            sizes[cell] = (args.hidden_size, params)
        else:
            sizes[cell] = match_hidden(cell, reference, vocab_size, args)
            if abs(sizes[cell][1] / reference - 1) > TOLERANCE:  # small models: steps of 8 are too coarse
                sizes[cell] = match_hidden(cell, reference, vocab_size, args, multiple=1)
        if args.match == "params" and abs(sizes[cell][1] / reference - 1) > TOLERANCE:
            raise SystemExit(f"{cell}: no hidden size within {TOLERANCE:.0%} of {reference:,} parameters")
    return sizes


# ---- data ---------------------------------------------------------------------------------------
def charlm_corpus(root: Path = CHARLM) -> TextFiles:
    """War and Peace, read in place from the shared data directory (its own train/valid/test split)."""
    missing = [n for n in ("train.txt", "valid.txt", "test.txt") if not (root / n).is_file()]
    if missing:
        raise SystemExit(f"{root}: missing {missing}; see {root / 'README.md'}")
    return TextFiles(
        train=str(root / "train.txt"), validation=str(root / "valid.txt"), test=str(root / "test.txt")
    )


def language_model_data(kind: str, max_megabytes: float | None = None) -> LanguageModelData:
    """The char-level LanguageModelData of ``builtin`` (PythonStdlib) or ``charlm`` text, encoded."""
    corpus = charlm_corpus() if kind == "charlm" else PythonStdlib(max_megabytes=max_megabytes)
    data = LanguageModelData(corpus=corpus, tokenizer=CharTokenizer())
    data.prepare_data()
    return data


def train_ids(
    kind: str, vocab_size: int, tokens: int, max_megabytes: float | None
) -> tuple[torch.Tensor, int]:
    """The training id stream and its vocabulary size: a real corpus, or uniform random ids (``random``:
    no corpus, same shapes; the loss then cannot fall, which does not matter for speed)."""
    if kind == "random":
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, vocab_size, (tokens,), generator=generator), vocab_size
    data = language_model_data(kind, max_megabytes)
    return data.encoded("train"), data.vocab_size


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; the first column left-aligned, the rest right-aligned."""
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)
