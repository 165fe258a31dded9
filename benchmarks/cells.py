"""Recurrent cells compared: the fused LSTM/GRU against the parallel-scan minGRU/minLSTM.

Two modes (``--help`` on each for the options; ``benchmarks/README.md``, "Recurrent cells", explains
the output):

``throughput``
    Training tokens/s of a ``RecurrentLM`` (forward, cross-entropy, backward, clipping, AdamW) for
    each cell at windows T = 128, 512, 2048 with the same tokens per step (B = tokens / T), in fp32
    and CPU bf16 autocast, at equal parameter counts, side by side in one process, round-robin over
    repetitions; median tokens/s and the ratio to the LSTM at the same T and precision.
``quality``
    The LSTM (``char_lstm.yaml``) and a scan cell (``char_mingru_long.yaml``) trained by
    ``seqlab fit`` for the same wall-clock time on the char LM, then scored by ``seqlab validate`` and
    ``seqlab test``: bits per character.

Cells that this seqlab does not have yet (``seqlab.nn.recurrent.Cell``) are skipped, and said so.

    .venv/bin/python benchmarks/cells.py throughput --skip gru:bf16        # 8.5 min on 2 cores
    .venv/bin/python benchmarks/cells.py throughput --data random --repeats 2 --json runs/cells.json
    .venv/bin/python benchmarks/cells.py quality --minutes 30 --out runs/cells_quality/quality.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import cells_quality
import cells_throughput
import torch
from cells_common import WANTED_CELLS, available_cells, describe, environment, model_sizes, quiet, train_ids


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def str_list(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def add_throughput(sub: Any) -> None:
    p = sub.add_parser("throughput", help="training tokens/s per cell, window and precision")
    p.add_argument("--cells", type=str_list, default=list(WANTED_CELLS), help="comma-separated")
    p.add_argument("--seq-lens", type=int_list, default=[128, 512, 2048], help="windows T")
    p.add_argument("--tokens", type=int, default=16384, help="tokens per step, B = tokens // T")
    p.add_argument("--precisions", type=str_list, default=["fp32", "bf16"], help="fp32 and/or bf16")
    p.add_argument("--hidden-size", type=int, default=512, help="the LSTM's; others match its params")
    p.add_argument("--match", choices=["params", "hidden"], default="params", help="what is kept equal")
    p.add_argument("--embedding-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW, no weight decay")
    p.add_argument("--steps", type=int, default=1, help="timed steps per configuration and repetition")
    p.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="untimed steps when a configuration first runs (0: the median "
        "over repetitions drops the cold first one; a step takes seconds)",
    )
    p.add_argument("--repeats", type=int, default=3, help="round-robin repetitions")
    p.add_argument("--max-minutes", type=float, default=None, help="start no repetition past this")
    p.add_argument("--skip", type=str_list, default=[], help="cell:precision pairs to leave out")
    p.add_argument("--data", choices=["builtin", "random", "charlm"], default="builtin")
    p.add_argument("--vocab-size", type=int, default=104, help="for --data random (charlm has 104)")
    p.add_argument("--max-megabytes", type=float, default=2.0, help="size of the built-in corpus")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")


def add_quality(sub: Any) -> None:
    p = sub.add_parser("quality", help="equal wall-clock training of the LSTM and a scan cell, test bpc")
    p.add_argument("--minutes", type=float, default=30.0, help="training wall time of each model")
    p.add_argument("--data", choices=["charlm", "builtin"], default="charlm")
    p.add_argument("--scan-cell", default="mingru", help="the scan cell's `cell` (any Cell works)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--concurrent", dest="sequential", action="store_false", help="both at once, 1 thread")
    how.add_argument("--sequential", dest="sequential", action="store_true", help="in turn, all threads")
    p.set_defaults(sequential=False)
    p.add_argument("--lstm-window", type=int, default=None, help="T (default: char_lstm.yaml's, 128)")
    p.add_argument("--scan-window", type=int, default=None, help="T (default: char_mingru_long.yaml's)")
    p.add_argument("--lstm-tokens", type=int, default=None, help="B x T per step (default: the config's)")
    p.add_argument("--scan-tokens", type=int, default=None, help="B x T per step (default: the config's)")
    p.add_argument("--lstm-precision", default="32-true", help="no bf16 LSTM kernel on AVX2 CPUs")
    p.add_argument("--scan-precision", default="32-true")
    p.add_argument("--root-dir", default="runs/cells_quality", help="run directories and logs")
    p.add_argument("--out", type=Path, default=Path("runs/cells_quality/quality.json"), help="JSON results")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    sub = parser.add_subparsers(dest="mode", required=True)
    add_throughput(sub)
    add_quality(sub)
    return parser.parse_args(argv)


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results written to {path}")


def throughput(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    """Measure, then print the per-configuration table and the verdict."""
    cells, skipped = available_cells(args.cells)
    if skipped:
        print(f"skipped (not in seqlab.nn.recurrent.Cell yet): {', '.join(skipped)}")
    needed = args.tokens * (args.warmup + args.steps * args.repeats + 1)  # random data: never wraps
    ids, vocab_size = train_ids(args.data, args.vocab_size, needed, args.max_megabytes)
    sizes = model_sizes(cells, vocab_size, args)
    for cell, (hidden, params) in sizes.items():
        print(f"  {cell:<8} hidden {hidden:>5}  {params:>10,} parameters")
    print(
        f"{args.layers} layers, embedding {args.embedding_size}, vocab {vocab_size} ({args.data} data); "
        f"{args.tokens} tokens/step; {args.steps} timed steps x {args.repeats} repeats, "
        f"{args.warmup} warm-up step(s) per configuration",
        flush=True,
    )
    runners = cells_throughput.run(args, cells, ids, vocab_size, sizes)
    rows = cells_throughput.summarize(args, runners, sizes)
    print()
    print(cells_throughput.table(rows))
    print("x LSTM: median tokens/s over the LSTM's at the same T and precision (paired per repeat); GFLOP/s:")
    print("6 x params x tokens/s, the training arithmetic of a dense model of that size")
    print()
    print("\n".join(cells_throughput.verdict(args, rows)))
    return {"skipped": skipped, "rows": rows}


def quality(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    """Train both, evaluate both, print the table."""
    how = "sequentially, all threads" if args.sequential else "concurrently, 1 thread each"
    print(f"{args.minutes:g} minutes of training each, {how}, on {args.data}", flush=True)
    results = cells_quality.run(args)
    print()
    print(cells_quality.table(results["rows"]))
    print(f"fit wall time {results['fit_wall_seconds']:.0f} s (both fits, set-up included)")
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet()
    started = time.perf_counter()
    env = environment(args.threads)
    print(f"benchmarks/cells.py {args.mode}, {datetime.date.today()}\n{describe(env)}", flush=True)
    results = throughput(args, env) if args.mode == "throughput" else quality(args, env)
    wall = time.perf_counter() - started
    print(f"total wall time {wall:.0f} s")
    config = {k: v for k, v in vars(args).items() if k not in ("json", "out")}
    payload = {"mode": args.mode, "config": config, "environment": env, "wall_seconds": wall, **results}
    write_json(args.json if args.mode == "throughput" else args.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
