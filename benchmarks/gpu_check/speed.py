"""Sections ``tbptt`` and ``scan``: two throughput measurements on the device.

``tbptt``: benchmarks/tbptt_throughput.py with ``--device`` and a short budget, bf16-mixed and
32-true: tokens/s of seqlab's GenerationTask (Lightning, manual optimization) over a hand-written
PyTorch loop doing the same work. Why: on a GPU the per-step cost of Lightning's bookkeeping weighs
more than on CPU, where a step takes hundreds of milliseconds; the goal is 0.97x (WARN below it).

``scan``: tokens/s of one ``RecurrentLM`` training step (forward, backward, AdamW) on random ids
[B, 2048] under bf16 autocast, for lstm and gru (cuDNN) and the scan cells mingru and minlstm, the
same tokens per step for all; the ratio is to lstm. Why: the scan cells exist to be faster than
cuDNN's sequential kernels on long windows; this is where that claim is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import typing
from pathlib import Path

from gpu_check.common import REPO, Context, Emitter, environ_with, last_error_line, quiet_env, sync
from seqlab.nn import RecurrentLMConfig

GOAL = 0.97
SCAN_CELLS = ("lstm", "gru", "mingru", "minlstm")


def tbptt_command(ctx: Context, json_path: Path) -> list[str]:
    size = ["--steps", "3", "--warmup", "1", "--repeats", "1", "--hidden-size", "64"]
    if not ctx.quick:
        size = ["--steps", "40", "--warmup", "10", "--repeats", "3"]
    return [
        sys.executable, str(REPO / "benchmarks" / "tbptt_throughput.py"), "--device", ctx.device,
        "--precisions", "bf16-mixed,32-true", "--max-megabytes", "0.3", *size,
        "--cache-dir", str(Path(ctx.workdir) / "tbptt" / "cache"), "--json", str(json_path),
    ]  # fmt: skip


def run_tbptt(ctx: Context, emit: Emitter) -> None:
    folder = Path(ctx.workdir) / "tbptt"
    folder.mkdir(parents=True, exist_ok=True)
    json_path, log = folder / "tbptt.json", folder / "tbptt.log"
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            tbptt_command(ctx, json_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ_with(quiet_env(folder)),
            timeout=max(10.0, ctx.left() - 5),
            check=False,
        )
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not json_path.exists():
        text = log.read_text(encoding="utf-8", errors="replace")
        emit.row("tbptt_throughput.py", "FAIL", f"exit {done.returncode}: {last_error_line(text)}", seconds)
        return
    results = json.loads(json_path.read_text())
    summary, c = results["summary"], results["config"]
    shape = f"{c['cell']} {c['layers']}x{c['hidden_size']}, B={c['batch_size']} T={c['seq_len']}"
    shape += ", --quick: a smoke run, not a measurement" if ctx.quick else ""
    for precision, s in summary["precisions"].items():
        ratio = s["ratio"]
        detail = (
            f"{ratio:.3f}x (step-paired {s['step_paired_ratio']:.3f}x; goal {GOAL}), plain "
            f"{s['plain_tokens_per_sec']:,.0f} tok/s, seqlab {s['seqlab_tokens_per_sec']:,.0f}; {shape}"
        )
        result = "OK" if ratio >= GOAL or ctx.quick else "WARN"  # --quick: too short to judge
        emit.row(f"seqlab/plain {precision}", result, detail, seconds)
    for side, speedup in summary.get("bf16_speedup", {}).items():
        emit.row(f"bf16/fp32 speed-up {side}", "OK", f"{speedup:.2f}x")


def measure(
    cell: str, ctx: Context, batch: int, length: int, hidden: int, seconds: float
) -> tuple[float, str]:
    """Tokens/s of training steps of ``cell`` for about ``seconds`` (after 3 warm-up steps)."""
    import torch
    import torch.nn.functional as F

    from seqlab.nn import RecurrentLM

    torch.manual_seed(0)
    device = torch.device(ctx.device if ctx.accelerator == "cuda" else "cpu")
    model = RecurrentLM(
        256, RecurrentLMConfig(cell, embedding_size=256, hidden_size=hidden, num_layers=2)
    ).to(device)  # type: ignore[arg-type]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 256, (batch, length + 1), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits, _ = model(ids[:, :-1])
            loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    sync(ctx.device)
    count, start = 0, time.perf_counter()
    while count < 200 and (count < 3 or time.perf_counter() - start < seconds):
        step()
        count += 1
        if count % 5 == 0:
            sync(ctx.device)
    sync(ctx.device)
    elapsed = time.perf_counter() - start
    memory = ""
    if device.type == "cuda":
        memory = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
    return count * batch * length / elapsed, f"{count} steps{memory}"


def run_scan(ctx: Context, emit: Emitter) -> None:
    from seqlab.nn.recurrent import Cell

    available = typing.get_args(Cell)
    batch, steps_len, hidden, seconds = (16, 2048, 512, 6.0) if not ctx.quick else (2, 256, 64, 1.0)
    shape = f"B={batch} T={steps_len} H={hidden}x2, {batch * steps_len} tokens/step, bf16 autocast"
    shape += " (--quick: a smoke run, not a measurement)" if ctx.quick else ""
    baseline = None
    for cell in SCAN_CELLS:
        if cell not in available:
            emit.row(cell, "SKIP", f"not in seqlab.nn.recurrent.Cell ({', '.join(available)})")
            continue
        if ctx.left() < 3 * seconds:
            emit.row(cell, "SKIP", "section time budget spent")
            continue
        with emit.guard(cell):
            start = time.perf_counter()
            tps, note = measure(cell, ctx, batch, steps_len, hidden, seconds)
            baseline = tps if cell == "lstm" else baseline
            ratio = f", {tps / baseline:.2f}x lstm" if baseline else ""
            emit.row(cell, "OK", f"{tps:,.0f} tok/s{ratio}; {shape}; {note}", time.perf_counter() - start)
