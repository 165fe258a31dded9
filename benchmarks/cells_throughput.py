"""``cells.py throughput``: training tokens/s of a RecurrentLM per cell, window length and precision.

Every configuration does the same work per step (``--tokens`` = B x T, so a longer window means
fewer parallel streams) with a plain TBPTT loop: forward with the carried state, cross-entropy on
float logits, backward, ``clip_grad_norm_(1.0)``, AdamW, detach the state. Configurations run
round-robin inside each repetition (the cell order rotates from one repetition to the next), so a
burst of load from another process spreads over all of them; medians over repetitions are reported.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from cells_common import SCAN_CELLS, lm_kwargs, markdown
from tbptt_throughput import train_window

from seqlab.data.modules.streams import StreamWindows
from seqlab.nn import RecurrentLM, RecurrentLMConfig, State

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
GOAL = 5.0  # a scan cell at this many times the LSTM's tokens/s at the longest window
Key = tuple[str, int, str]  # (cell, seq_len, precision)


def autocast(precision: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """CPU bf16 autocast for ``bf16`` (what Lightning's ``bf16-mixed`` does), nothing for ``fp32``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast("cpu", dtype=dtype)


def endless(windows: StreamWindows) -> Iterator[tuple[bool, torch.Tensor, torch.Tensor]]:
    """``(epoch_start, inputs, targets)``, epoch after epoch, full windows only (equal work per step)."""
    while True:
        for k in range(len(windows)):
            inputs, targets = windows[k]
            if inputs.size(1) == windows.seq_len:
                yield k == 0, inputs, targets


@dataclass
class Runner:
    """One configuration's model, optimizer and place in the data, kept across repetitions so that
    only its first steps pay for oneDNN primitive creation and allocator warm-up."""

    model: RecurrentLM
    precision: str
    windows: Iterator[tuple[bool, torch.Tensor, torch.Tensor]]
    lr: float
    state: State | None = None
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.0)
        self.context = autocast(self.precision)

    def step(self) -> tuple[int, float]:
        """One TBPTT window: returns its tokens and loss."""
        epoch_start, inputs, targets = next(self.windows)
        if epoch_start:
            self.state = None
        loss, self.state = train_window(self.model, self.optimizer, self.context, self.state, inputs, targets)
        return inputs.numel(), loss.item()

    def measure(self, steps: int) -> float:
        """Tokens/s over ``steps`` timed steps (the timer includes fetching each window)."""
        gc.collect()
        tokens, start = 0, time.perf_counter()
        for _ in range(steps):
            done, loss = self.step()
            tokens += done
        rate = tokens / (time.perf_counter() - start)
        self.rates.append(rate)
        self.losses.append(loss)
        return rate


def build_runner(key: Key, ids: torch.Tensor, vocab_size: int, args: Any, kwargs: dict[str, Any]) -> Runner:
    """A fresh seeded model on windows of B = tokens // T streams, warmed up by ``--warmup`` steps."""
    _, seq_len, precision = key
    torch.manual_seed(args.seed)
    model = RecurrentLM(vocab_size, RecurrentLMConfig(**kwargs))
    model.train()
    windows = StreamWindows(ids, args.tokens // seq_len, seq_len, name="train")
    runner = Runner(model, precision, endless(windows), args.lr)
    for _ in range(args.warmup):
        runner.step()
    return runner


def rotated(cells: list[str], rep: int) -> list[str]:
    """Cell order for repetition ``rep``: rotated so that no cell always runs first or last."""
    shift = rep % len(cells)
    return cells[shift:] + cells[:shift]


def run(args: Any, cells: list[str], ids: torch.Tensor, vocab_size: int, sizes: dict) -> dict[Key, Runner]:
    """Every repetition measures every (T, precision, cell), round-robin; returns the runners. With
    ``--max-minutes``, no repetition starts that the last one's duration says would not fit."""
    runners: dict[Key, Runner] = {}
    started, last = time.perf_counter(), 0.0
    for rep in range(args.repeats):
        elapsed = time.perf_counter() - started
        if rep and args.max_minutes and elapsed + last > 60 * args.max_minutes:
            print(f"  stopping after {rep} repetition(s): another would pass --max-minutes", flush=True)
            break
        for seq_len in args.seq_lens:
            for precision in args.precisions:
                for cell in rotated(cells, rep):
                    key = (cell, seq_len, precision)
                    if f"{cell}:{precision}" in args.skip:
                        continue
                    if key not in runners:
                        kwargs = lm_kwargs(cell, sizes[cell][0], args, dropout=0.0)
                        runners[key] = build_runner(key, ids, vocab_size, args, kwargs)
                    rate = runners[key].measure(args.steps)
                    print(
                        f"  rep {rep + 1}/{args.repeats}  T={seq_len:<5} {precision}  {cell:<8}"
                        f"{rate:10,.0f} tok/s  loss {runners[key].losses[-1]:.3f}",
                        flush=True,
                    )
        last = time.perf_counter() - started - elapsed
    return runners


# ---- summary ------------------------------------------------------------------------------------
def median_rate(runners: dict[Key, Runner], key: Key) -> float:
    return statistics.median(runners[key].rates)


def paired_ratio(runners: dict[Key, Runner], key: Key) -> float | None:
    """Median over repetitions of (cell / LSTM) within the same repetition: steadier under load."""
    reference = runners.get(("lstm", key[1], key[2]))
    if reference is None:
        return None
    return statistics.median(a / b for a, b in zip(runners[key].rates, reference.rates, strict=True))


def summarize(args: Any, runners: dict[Key, Runner], sizes: dict) -> list[dict[str, Any]]:
    """One row per configuration: median tokens/s and ratios to the LSTM at the same T and precision."""
    rows = []
    for seq_len in args.seq_lens:
        for precision in args.precisions:
            lstm = ("lstm", seq_len, precision)
            for cell in sizes:
                key = (cell, seq_len, precision)
                if key not in runners:  # --skip
                    continue
                rate = median_rate(runners, key)
                rows.append(
                    {
                        "cell": cell,
                        "seq_len": seq_len,
                        "batch_size": args.tokens // seq_len,
                        "precision": precision,
                        "hidden_size": sizes[cell][0],
                        "params": sizes[cell][1],
                        "tokens_per_sec": rate,
                        "ms_per_step": 1e3 * args.tokens / rate,
                        "vs_lstm": rate / median_rate(runners, lstm) if lstm in runners else None,
                        "vs_lstm_paired": paired_ratio(runners, key),
                        "rates": runners[key].rates,
                        "last_loss": runners[key].losses[-1],
                    }
                )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    header = ["T", "B", "precision", "cell", "hidden", "params", "tok/s (median)", "ms/step", "GFLOP/s"]
    header.append("x LSTM")
    body = []
    for r in rows:
        ratio = "-" if r["vs_lstm"] is None else f"{r['vs_lstm']:.2f}x ({r['vs_lstm_paired']:.2f}x)"
        body.append(
            [
                r["seq_len"],
                r["batch_size"],
                r["precision"],
                r["cell"],
                r["hidden_size"],
                f"{r['params']:,}",
                f"{r['tokens_per_sec']:,.0f}",
                f"{r['ms_per_step']:,.0f}",
                f"{6e-9 * r['params'] * r['tokens_per_sec']:.0f}",
                ratio,
            ]
        )
    return markdown(header, body)


def verdict(args: Any, rows: list[dict[str, Any]]) -> list[str]:
    """The goal, judged best against best at the longest window, and at each precision."""
    longest = max(args.seq_lens)
    at = [r for r in rows if r["seq_len"] == longest]
    lstm = [r for r in at if r["cell"] == "lstm"]
    scan = [r for r in at if r["cell"] in SCAN_CELLS]
    if not lstm or not scan:
        return [f"goal (scan cell >= {GOAL:.0f}x LSTM at T={longest}): not judged, no scan cell or LSTM ran"]
    lines = []
    for precision in args.precisions:
        ran = [r for r in scan if r["precision"] == precision and r["vs_lstm"] is not None]
        if not ran:
            continue
        best = max(ran, key=lambda r: r["tokens_per_sec"])
        lines.append(
            f"T={longest} {precision}: best scan cell {best['cell']} {best['vs_lstm']:.2f}x LSTM "
            f"(paired {best['vs_lstm_paired']:.2f}x)"
        )
    top_scan = max(scan, key=lambda r: r["tokens_per_sec"])
    top_lstm = max(lstm, key=lambda r: r["tokens_per_sec"])
    ratio = top_scan["tokens_per_sec"] / top_lstm["tokens_per_sec"]
    met = "MET" if ratio >= GOAL else "NOT MET"
    if args.match != "params":
        met = f"not judged (--match {args.match}; the goal is at equal parameters)"
    lines.append(
        f"goal scan cell >= {GOAL:.0f}x LSTM tokens/s at T={longest}, equal parameters, best precision "
        f"each: {met} ({top_scan['cell']} {top_scan['precision']} {top_scan['tokens_per_sec']:,.0f} vs "
        f"lstm {top_lstm['precision']} {top_lstm['tokens_per_sec']:,.0f} tok/s = {ratio:.2f}x)"
    )
    for r in rows:
        if r["cell"] in SCAN_CELLS and r["vs_lstm"] is not None and r["vs_lstm"] < 1:
            lines.append(f"slower than the LSTM: {r['cell']} at T={r['seq_len']} {r['precision']}")
        if r["last_loss"] != r["last_loss"]:
            lines.append(f"WARNING: {r['cell']} T={r['seq_len']} {r['precision']}: loss is NaN")
    return lines
