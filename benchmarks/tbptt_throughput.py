"""Training throughput of seqlab's TBPTT language-model task against a hand-written PyTorch loop.

What it measures
    Tokens per second of truncated-BPTT training of a ``RecurrentLM`` (Char-RNN) on the built-in
    ``PythonStdlib`` corpus, two ways, side by side in one process:

    * ``plain``:  a hand-written loop: for each window ``[B, T]``, forward with the carried state,
      cross-entropy on float logits, ``zero_grad``, ``backward``, ``clip_grad_norm_(1.0)``,
      ``AdamW.step``, detach the state.  For ``bf16-mixed`` the forward and the loss run under
      ``torch.autocast("cpu", dtype=torch.bfloat16)`` (on ``--device cuda``: the same on the GPU).
    * ``seqlab``: ``seqlab.tasks.GenerationTask`` trained by a real ``lightning.Trainer`` as a user
      gets it (manual optimization, clipping in ``on_before_optimizer_step``, per-step logging,
      optionally the CSV logger), with ``precision="32-true"`` or ``"bf16-mixed"``.

    It prints the median tokens/s of each side per precision, the ratio seqlab/plain (the goal is
    0.97x or better) and the bf16/fp32 speed-up of each side.

Why the comparison is fair
    * Same work: both sides train the same model (same hyperparameters and the *same initial
      weights*, copied from one seeded reference) with the same optimizer (AdamW, same lr, no weight
      decay), the same clipping and the same data: the train loader (``train_dataloader()``) of one
      ``LanguageModelData`` (``StreamWindows`` of the train split, same ``batch_size`` and ``seq_len``).
      Both start every repetition from the first window with no state, so they see identical
      batches; the script checks that the losses of the last timed step agree.
    * Same clock: a step is timed from the moment its batch is in hand to the moment the next
      batch is in hand, so every timed step includes one data-loader fetch, the forward, backward,
      clipping, optimizer step and, for seqlab, all of Lightning's per-step bookkeeping (hooks,
      ``self.log``, logger connector, progress tracking).  The first ``--warmup`` steps (oneDNN
      primitive creation, allocator warm-up, Lightning's fit set-up) are not timed on either side.
    * Same machine state: ``torch.set_num_threads`` is set once for the whole process (and checked
      inside the Trainer), and the sides are interleaved so that load from other processes on a
      shared machine hits both alike.  By default (``--interleave step``) they run in lockstep: the
      timing callback runs one plain step right before every seqlab step (plain, seqlab, plain,
      seqlab, ...), and the plain step's time is not counted in seqlab's.  ``--interleave run``
      alternates whole repetitions instead.  Repetitions cycle through the precisions too.
      Medians over repetitions are reported, with the per-repetition ratios and the median of
      step-by-step ratios as noise gauges.

Run ``python benchmarks/tbptt_throughput.py --help`` for the options; ``benchmarks/README.md``
explains how to read the output.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger

from seqlab.data import CharTokenizer, LanguageModelData, PythonStdlib
from seqlab.engine.task_data import hand_data
from seqlab.nn import RecurrentLM, RecurrentLMConfig, State, detach_state
from seqlab.tasks import GenerationTask

PRECISIONS = ("32-true", "bf16-mixed")
SIDES = ("plain", "seqlab")
GOAL = 0.97
CLIP_NORM = 1.0
NOISY = 0.15  # repetitions that disagree by more than this get a note


# ---- configuration ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tokens/s of seqlab's GenerationTask (Lightning) vs a plain PyTorch TBPTT loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
    parser.add_argument("--embedding-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="> 0: the sides draw different masks (no loss check)"
    )
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (no weight decay)")
    parser.add_argument("--batch-size", type=int, default=32, help="parallel streams per window")
    parser.add_argument("--seq-len", type=int, default=128, help="window length in tokens")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repetition")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed ones")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions per side")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--max-megabytes", type=float, default=2.0, help="size of the PythonStdlib corpus")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shared initial weights")
    parser.add_argument(
        "--logger",
        default="csv",
        choices=["csv", "none"],
        help="seqlab side: Lightning's CSVLogger in a temporary directory (as the CLI has) or logger=False",
    )
    parser.add_argument(
        "--log-every-n-steps", type=int, default=25, help="seqlab side (25 is the demo config's value)"
    )
    parser.add_argument(
        "--interleave",
        default="step",
        choices=["step", "run"],
        help="step: one plain step before every seqlab step inside one fit (robust on a busy machine); "
        "run: whole runs in turn, plain then seqlab, order swapped every repeat",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu, or cuda / cuda:N: both sides train on that GPU (bf16 autocast there; steps are timed "
        "after torch.cuda.synchronize)",
    )
    parser.add_argument("--cache-dir", default=None, help="seqlab data cache (default: $SEQLAB_CACHE)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = sorted(set(args.precisions) - set(PRECISIONS))
    if unknown or not args.precisions:
        parser.error(f"--precisions: choose from {','.join(PRECISIONS)}, got {args.precisions}")
    if min(args.steps, args.repeats, args.threads) < 1 or args.warmup < 0:
        parser.error("--steps, --repeats and --threads must be >= 1 and --warmup >= 0")
    args.device = torch.device(args.device)
    if args.device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    if args.device.type not in ("cpu", "cuda"):
        parser.error(f"--device: cpu or cuda[:N], got {args.device}")
    return args


def model_config(args: argparse.Namespace) -> RecurrentLMConfig:
    """The ``RecurrentLM`` architecture, shared by both sides."""
    return RecurrentLMConfig(
        cell=args.cell,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        dropout=args.dropout,
    )


def quiet_libraries() -> None:
    """Keep the output to the benchmark's own lines (Lightning's banners and hints are per fit)."""
    datasets.disable_progress_bars()
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")


# ---- timing -------------------------------------------------------------------------------------
def synchronize(device: torch.device) -> None:
    """On a GPU, wait for the queued kernels so that a step's wall time covers them (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class StepTimes:
    """Durations of the timed steps ``warmup .. warmup+steps-1`` of one side; ``add`` is called per step."""

    warmup: int
    steps: int
    index: int = 0
    seconds: list[float] = field(default_factory=list)
    tokens: int = 0
    final_loss: float = float("nan")

    def add(self, seconds: float, tokens: int, loss: torch.Tensor | None) -> None:
        if self.warmup <= self.index < self.warmup + self.steps:
            self.seconds.append(seconds)
            self.tokens += tokens
            if loss is not None:
                self.final_loss = float(loss)
        self.index += 1

    @property
    def done(self) -> bool:
        return self.index >= self.warmup + self.steps


@dataclass
class Measurement:
    """One repetition of one side at one precision."""

    side: str
    precision: str
    repeat: int
    tokens: int
    seconds: float
    step_seconds: list[float]
    final_loss: float
    threads: int

    @property
    def tokens_per_sec(self) -> float:
        return self.tokens / self.seconds


def measurement(side: str, precision: str, repeat: int, times: StepTimes, threads: int) -> Measurement:
    if not times.done:
        raise RuntimeError(
            f"{side}/{precision}: only {times.index} of {times.warmup + times.steps} steps ran"
        )
    return Measurement(
        side=side,
        precision=precision,
        repeat=repeat,
        tokens=times.tokens,
        seconds=sum(times.seconds),
        step_seconds=times.seconds,
        final_loss=times.final_loss,
        threads=threads,
    )


# ---- the plain PyTorch side ---------------------------------------------------------------------
def forward_context(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    if precision == "bf16-mixed":
        return functools.partial(torch.autocast, device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def endless_windows(
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> Iterator[tuple[bool, torch.Tensor, torch.Tensor]]:
    """``(epoch_start, inputs, targets)`` over the loader, epoch after epoch."""
    while True:
        for k, (inputs, targets) in enumerate(loader):
            yield k == 0, inputs, targets


def train_window(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    autocast: Callable[[], contextlib.AbstractContextManager],
    state: State | None,
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> tuple[torch.Tensor, State]:
    """One hand-written TBPTT update on a window: forward from the carried state, float cross-entropy,
    backward, clipping, AdamW; returns the (detached) loss and the detached state."""
    with autocast():
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
    optimizer.step()
    return loss.detach(), detach_state(state)


class PlainLoop:
    """The hand-written TBPTT loop, one window per ``step``; the state is reset at each epoch start."""

    def __init__(
        self, args: argparse.Namespace, data: LanguageModelData, init: dict[str, torch.Tensor], precision: str
    ) -> None:
        self.model = RecurrentLM(data.vocab_size, model_config(args))
        self.model.load_state_dict(init)
        self.device = args.device
        self.model.to(self.device).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=0.0)
        self.autocast = forward_context(precision, self.device)
        self.windows = endless_windows(data.train_dataloader())
        self.state: State | None = None
        self.times = StepTimes(args.warmup, args.steps)

    def step(self) -> tuple[int, torch.Tensor]:
        """Fetch the next window and train on it; returns its token count and loss."""
        epoch_start, inputs, targets = next(self.windows)
        inputs, targets = inputs.to(self.device), targets.to(self.device)  # no-ops on CPU
        if epoch_start:
            self.state = None
        loss, self.state = train_window(
            self.model, self.optimizer, self.autocast, self.state, inputs, targets
        )
        return inputs.numel(), loss

    def timed_step(self) -> None:
        start = time.perf_counter()
        tokens, loss = self.step()
        synchronize(self.device)
        self.times.add(time.perf_counter() - start, tokens, loss)


def run_plain(
    args: argparse.Namespace, data: LanguageModelData, init: dict[str, torch.Tensor], precision: str, rep: int
) -> Measurement:
    plain = PlainLoop(args, data, init, precision)
    while not plain.times.done:
        plain.timed_step()
    return measurement("plain", precision, rep, plain.times, torch.get_num_threads())


# ---- the seqlab (Lightning) side ----------------------------------------------------------------
class StepClock(Callback):
    """Times each seqlab step from one ``on_train_batch_start`` (its batch is in hand) to the next, so
    a step includes the next fetch and all of Lightning's per-step work.  With ``plain`` given, one
    plain step runs (and is timed by itself) at every pause between seqlab steps: lockstep."""

    def __init__(
        self, times: StepTimes, plain: PlainLoop | None = None, device: torch.device | None = None
    ) -> None:
        self.times, self.plain = times, plain
        self.device = device or torch.device("cpu")
        self.resumed: float | None = None
        self.tokens = 0
        self.loss: torch.Tensor | None = None
        self.threads = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int):
        synchronize(self.device)
        now = time.perf_counter()
        if self.resumed is not None:
            self.times.add(now - self.resumed, self.tokens, self.loss)
        if self.plain is not None and not self.plain.times.done:
            self.plain.timed_step()
        self.threads = torch.get_num_threads()
        self.tokens = batch[0].numel()
        self.resumed = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self.loss = outputs["loss"] if isinstance(outputs, dict) else outputs


def build_trainer(args: argparse.Namespace, precision: str, clock: StepClock, log_dir: Path) -> L.Trainer:
    """The Trainer a user gets, minus checkpoints, progress bar and validation."""
    logger = CSVLogger(log_dir, name=precision) if args.logger == "csv" else False
    cuda = args.device.type == "cuda"
    return L.Trainer(
        accelerator="cuda" if cuda else "cpu",
        devices=[args.device.index or 0] if cuda else 1,
        precision=precision,
        max_steps=args.warmup + args.steps + 1,  # + 1: the last timed step ends when the next begins
        logger=logger,
        log_every_n_steps=args.log_every_n_steps,
        callbacks=[clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,
        default_root_dir=log_dir,
    )


def run_seqlab(
    args: argparse.Namespace,
    data: LanguageModelData,
    init: dict[str, torch.Tensor],
    precision: str,
    rep: int,
    log_dir: Path,
    plain: PlainLoop | None = None,
) -> list[Measurement]:
    """Train ``GenerationTask`` with a Trainer; with ``plain``, the plain loop runs in lockstep."""
    task = GenerationTask(
        data.vocab_size,
        model_config(args),
        optimizer=functools.partial(torch.optim.AdamW, lr=args.lr, weight_decay=0.0),
        gradient_clip_norm=CLIP_NORM,
    )
    task.model.load_state_dict(init)
    clock = StepClock(StepTimes(args.warmup, args.steps), plain, args.device)
    hand_data(task, data)  # as seqlab's engine does: the task logs train/bpc for characters
    build_trainer(args, precision, clock, log_dir).fit(task, datamodule=data)
    results = [measurement("seqlab", precision, rep, clock.times, clock.threads)]
    if plain is not None:
        results.insert(0, measurement("plain", precision, rep, plain.times, clock.threads))
    return results


# ---- the experiment -----------------------------------------------------------------------------
def build_data(args: argparse.Namespace) -> LanguageModelData:
    data = LanguageModelData(
        corpus=PythonStdlib(max_megabytes=args.max_megabytes),
        tokenizer=CharTokenizer(),
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        cache_dir=args.cache_dir,
    )
    data.prepare_data()
    data.setup("fit")
    return data


def initial_weights(args: argparse.Namespace, vocab_size: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(args.seed)
    return copy.deepcopy(RecurrentLM(vocab_size, model_config(args)).state_dict())


def run_pair(
    args: argparse.Namespace,
    data: LanguageModelData,
    init: dict[str, torch.Tensor],
    precision: str,
    rep: int,
    log_dir: Path,
) -> list[Measurement]:
    """One repetition of both sides at one precision, interleaved per step or per run."""
    if args.interleave == "step":
        gc.collect()
        return run_seqlab(args, data, init, precision, rep, log_dir, PlainLoop(args, data, init, precision))
    results = []
    for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
        gc.collect()
        if side == "plain":
            results.append(run_plain(args, data, init, precision, rep))
        else:
            results.extend(run_seqlab(args, data, init, precision, rep, log_dir))
    return results


def run_all(args: argparse.Namespace, data: LanguageModelData, log_dir: Path) -> list[Measurement]:
    """Every repetition runs every precision, both sides each time."""
    init = initial_weights(args, data.vocab_size)
    results = []
    for rep in range(args.repeats):
        for precision in args.precisions:
            pair = run_pair(args, data, init, precision, rep, log_dir)
            results.extend(pair)
            line = "  ".join(
                f"{r.side} {r.tokens_per_sec:9,.0f} tok/s (loss {r.final_loss:.4f})" for r in pair
            )
            print(f"  rep {rep + 1}/{args.repeats}  {precision:<10}  {line}", flush=True)
    return results


def rows(results: list[Measurement], precision: str, side: str | None = None) -> list[Measurement]:
    found = [r for r in results if r.precision == precision and side in (None, r.side)]
    return sorted(found, key=lambda r: r.repeat)


def median_tps(results: list[Measurement], side: str, precision: str) -> float:
    return statistics.median(r.tokens_per_sec for r in rows(results, precision, side))


def paired(results: list[Measurement], precision: str) -> list[tuple[Measurement, Measurement]]:
    """(plain, seqlab) of each repetition."""
    plain, seqlab = rows(results, precision, "plain"), rows(results, precision, "seqlab")
    return list(zip(plain, seqlab, strict=True))


def step_paired_ratio(results: list[Measurement], precision: str) -> float:
    """Median over steps of plain time / seqlab time for the same step of the same repetition: with
    ``--interleave step`` the two steps ran back to back, so a burst of load hits both alike."""
    ratios = [
        a / b
        for plain, seqlab in paired(results, precision)
        for a, b in zip(plain.step_seconds, seqlab.step_seconds, strict=True)
    ]
    return statistics.median(ratios)


def spread(values: list[float]) -> float:
    """(max - min) / median: how far repetitions disagree."""
    return (max(values) - min(values)) / statistics.median(values)


def summarize(args: argparse.Namespace, results: list[Measurement]) -> dict[str, Any]:
    summary: dict[str, Any] = {"goal": GOAL, "same_losses_expected": args.dropout == 0, "precisions": {}}
    for precision in args.precisions:
        plain, seqlab = median_tps(results, "plain", precision), median_tps(results, "seqlab", precision)
        pairs = paired(results, precision)
        summary["precisions"][precision] = {
            "plain_tokens_per_sec": plain,
            "seqlab_tokens_per_sec": seqlab,
            "ratio": seqlab / plain,
            "paired_ratios": [s.tokens_per_sec / p.tokens_per_sec for p, s in pairs],
            "step_paired_ratio": step_paired_ratio(results, precision),
            "goal_met": seqlab / plain >= GOAL,
            "spread": max(spread([r.tokens_per_sec for r in rows(results, precision, s)]) for s in SIDES),
            "max_final_loss_diff": max(abs(p.final_loss - s.final_loss) for p, s in pairs),
        }
    if set(PRECISIONS) <= set(args.precisions):
        summary["bf16_speedup"] = {
            side: median_tps(results, side, "bf16-mixed") / median_tps(results, side, "32-true")
            for side in SIDES
        }
    return summary


# ---- output -------------------------------------------------------------------------------------
def header(args: argparse.Namespace, data: LanguageModelData) -> str:
    tokens = args.batch_size * args.seq_len
    return (
        f"seqlab TBPTT throughput: {args.cell}, embedding {args.embedding_size}, hidden {args.hidden_size} "
        f"x {args.layers} layers, vocab {data.vocab_size}; B={args.batch_size} T={args.seq_len} "
        f"({tokens} tokens/step)\n"
        f"{args.steps} timed steps after {args.warmup} warm-up, {args.repeats} repeats interleaved per "
        f"{args.interleave}; {args.threads} threads; torch {torch.__version__}, lightning {L.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; seqlab logger: {args.logger}"
        + (f"; device {torch.cuda.get_device_name(args.device)}" if args.device.type == "cuda" else "")
    )


def table(args: argparse.Namespace, results: list[Measurement]) -> str:
    reps = "".join(f"{f'rep{i + 1}':>10}" for i in range(args.repeats))
    lines = [f"{'precision':<11}{'side':<8}{reps}{'median tok/s':>14}{'ms/step':>9}{'final loss':>12}"]
    for precision in args.precisions:
        for side in SIDES:
            found = rows(results, precision, side)
            median = median_tps(results, side, precision)
            ms = 1e3 * args.batch_size * args.seq_len / median
            cells = "".join(f"{r.tokens_per_sec:10,.0f}" for r in found)
            loss = found[-1].final_loss
            lines.append(f"{precision:<11}{side:<8}{cells}{median:14,.0f}{ms:9.1f}{loss:12.4f}")
    return "\n".join(lines)


def verdict(summary: dict[str, Any]) -> str:
    lines = []
    for precision, s in summary["precisions"].items():
        per_rep = " ".join(f"{r:.3f}" for r in s["paired_ratios"])
        lines.append(
            f"seqlab/plain {precision:<10}: {s['ratio']:.3f}x   per repeat {per_rep}   "
            f"step-paired median {s['step_paired_ratio']:.3f}x"
        )
    for side, speedup in summary.get("bf16_speedup", {}).items():
        lines.append(f"bf16-mixed/32-true {side:<6}: {speedup:.2f}x")
    for precision, s in summary["precisions"].items():
        if summary["same_losses_expected"] and s["max_final_loss_diff"] > 1e-3:
            lines.append(
                f"WARNING {precision}: final losses of the two sides differ by "
                f"{s['max_final_loss_diff']:.2e}; they should train identically"
            )
        if s["spread"] > NOISY:
            lines.append(
                f"note {precision}: repetitions of one side differ by {100 * s['spread']:.0f}% "
                "(busy machine?); the step-paired ratio is the more robust figure; more --repeats help"
            )
    for precision, s in summary["precisions"].items():
        met = "MET" if s["goal_met"] else "NOT MET"
        lines.append(
            f"goal seqlab >= {GOAL:.2f}x plain at {precision:<10}: {met} ({s['ratio']:.3f}x; "
            f"step-paired {s['step_paired_ratio']:.3f}x)"
        )
    return "\n".join(lines)


def write_json(path: Path, args: argparse.Namespace, results: list[Measurement], summary: dict) -> None:
    config = {k: (str(v) if isinstance(v, Path | torch.device) else v) for k, v in vars(args).items()}
    payload = {
        "config": config,
        "environment": {
            "torch": torch.__version__,
            "lightning": L.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "device": torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "cpu",
        },
        "summary": summary,
        "measurements": [asdict(r) | {"tokens_per_sec": r.tokens_per_sec} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_libraries()
    started = time.perf_counter()
    data = build_data(args)
    print(header(args, data), flush=True)
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-") as log_dir:
        results = run_all(args, data, Path(log_dir))
    summary = summarize(args, results)
    print()
    print(table(args, results))
    print()
    print(verdict(summary))
    print(f"total time {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        write_json(args.json, args, results, summary)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
