"""``cells.py quality``: the LSTM and a scan cell trained for the same wall-clock time, then tested.

Both are trained by the ordinary ``seqlab fit`` (``--trainer.max_time``, so Lightning's timer stops
them; data preparation and model building are not counted) from the shipped configs
``char_lstm.yaml`` (window 128) and ``char_mingru_long.yaml`` (window 2048), at equal parameter
counts, then ``seqlab validate`` and ``seqlab test`` score each final ``last.ckpt`` in bits per
character. ``--concurrent`` runs the two fits (and then the two evaluations) at once with one thread
each, so load from other processes hits both alike; ``--sequential`` runs them in turn with all
threads.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from cells_common import CHARLM, count_params, language_model_data, markdown, match_hidden

from seqlab.data import LanguageModelData
from seqlab.data.modules.streams import StreamWindows

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs" / "generation"
LSTM_CONFIG = CONFIGS / "char_lstm.yaml"
SCAN_CONFIG = CONFIGS / "char_mingru_long.yaml"


@dataclass
class Spec:
    """One side of the comparison: a shipped config plus the overrides that make it this model."""

    name: str
    config: Path
    cell: str
    hidden_size: int
    params: int
    batch_size: int
    seq_len: int
    precision: str
    overrides: list[str] = field(default_factory=list)

    def common(self, root: Path, data_args: list[str]) -> list[str]:
        """Arguments shared by fit, validate and test: the same model and data each time."""
        return [
            "--config",
            str(self.config),
            f"--model.net.cell={self.cell}",
            f"--model.net.hidden_size={self.hidden_size}",
            f"--data.batch_size={self.batch_size}",
            f"--data.seq_len={self.seq_len}",
            f"--trainer.precision={self.precision}",
            *data_args,
            *self.overrides,
            f"--run.name={self.name}",
            f"--run.root_dir={root}",
            "--run.wandb.mode=disabled",
        ]


def model_args(config: Path) -> dict[str, Any]:
    """The model and data settings a shipped config sets (for parameter counts and windows)."""
    loaded = yaml.safe_load(config.read_text())
    return {**loaded["data"]["init_args"], **loaded["model"]["init_args"]}


def lm_size(config: Path, cell: str, hidden: int, vocab_size: int) -> int:
    settings = model_args(config)
    keys = ("embedding_size", "num_layers", "tie_weights", "layer_norm", "residual")
    kwargs = {k: settings[k] for k in keys if k in settings}
    return count_params(vocab_size, {"cell": cell, "hidden_size": hidden, **kwargs})


class _ConfigArgs:
    """What ``match_hidden`` reads (the argparse names of the throughput mode), from a config."""

    def __init__(self, config: Path) -> None:
        settings = model_args(config)
        self.embedding_size, self.layers = settings["embedding_size"], settings["num_layers"]
        self.layer_norm, self.residual = settings.get("layer_norm"), settings.get("residual")


def build_specs(args: Any, vocab_size: int) -> list[Spec]:
    """The LSTM of char_lstm.yaml and the scan cell of char_mingru_long.yaml, sized to equal parameters."""
    lstm, scan = model_args(LSTM_CONFIG), model_args(SCAN_CONFIG)
    lstm_params = lm_size(LSTM_CONFIG, "lstm", lstm["hidden_size"], vocab_size)
    hidden, params = match_hidden(args.scan_cell, lstm_params, vocab_size, _ConfigArgs(SCAN_CONFIG))
    lstm_window = args.lstm_window or lstm["seq_len"]
    scan_window = args.scan_window or scan["seq_len"]
    lstm_tokens = args.lstm_tokens or lstm["batch_size"] * lstm["seq_len"]
    scan_tokens = args.scan_tokens or scan["batch_size"] * scan["seq_len"]
    return [
        Spec(
            "cells_lstm",
            LSTM_CONFIG,
            "lstm",
            lstm["hidden_size"],
            lstm_params,
            lstm_tokens // lstm_window,
            lstm_window,
            args.lstm_precision,
        ),
        Spec(
            f"cells_{args.scan_cell}",
            SCAN_CONFIG,
            args.scan_cell,
            hidden,
            params,
            scan_tokens // scan_window,
            scan_window,
            args.scan_precision,
        ),
    ]


def data_args(kind: str) -> list[str]:
    """CLI overrides that point LanguageModelData at the chosen text (the configs' own: built-in)."""
    if kind == "builtin":
        return []
    return [
        "--data.corpus=seqlab.data.TextFiles",
        f"--data.corpus.train={CHARLM / 'train.txt'}",
        f"--data.corpus.validation={CHARLM / 'valid.txt'}",
        f"--data.corpus.test={CHARLM / 'test.txt'}",
    ]


def launch(verb: str, spec: Spec, root: Path, args: Any, threads: int, extra: list[str]) -> subprocess.Popen:
    """Start one ``seqlab`` command with ``threads`` intra-op threads; output goes to its log."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "seqlab", verb, *spec.common(root, data_args(args.data)), *extra]
    log = open(root / f"{spec.name}.log", "a")  # noqa: SIM115 - closed when the process is waited for
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    process.log = log  # type: ignore[attr-defined]
    return process


def wait(processes: list[subprocess.Popen], names: list[str]) -> None:
    """Wait for all; a failure names its log."""
    for process, name in zip(processes, names, strict=True):
        code = process.wait()
        process.log.close()  # type: ignore[attr-defined]
        if code != 0:
            verb = process.args[3]  # type: ignore[index]
            raise SystemExit(f"{name}: `seqlab {verb}` failed (exit {code}); see {name}.log")


def in_parallel(verb: str, specs: list[Spec], root: Path, args: Any, extra: dict[str, list[str]]) -> float:
    """Run ``verb`` for every spec, at once (1 thread each) or in turn (all threads); wall seconds."""
    start = time.perf_counter()
    if args.sequential:
        for spec in specs:
            wait([launch(verb, spec, root, args, args.threads, extra[spec.name])], [spec.name])
    else:
        processes = [launch(verb, s, root, args, 1, extra[s.name]) for s in specs]
        wait(processes, [s.name for s in specs])
    return time.perf_counter() - start


def newest(path: Path, pattern: str) -> Path:
    found = sorted(path.glob(pattern), key=lambda p: int(p.name.rsplit("_", 1)[-1].rsplit("-", 1)[-1]))
    if not found:
        raise SystemExit(f"nothing matches {path / pattern}")
    return found[-1]


def last_metric(metrics: Path, key: str) -> float | None:
    value = None
    with open(metrics, newline="") as file:
        for row in csv.DictReader(file):
            if row.get(key):
                value = float(row[key])
    return value


def tokens_seen(data: LanguageModelData, spec: Spec, steps: int) -> int:
    """Training tokens in ``steps`` windows: epochs of B streams, the last window of each maybe short."""
    windows = StreamWindows(data.encoded("train"), spec.batch_size, spec.seq_len)
    per_epoch, full = len(windows), spec.batch_size * windows.stream_length
    epochs, rest = divmod(steps, per_epoch)
    return epochs * full + spec.batch_size * min(rest * spec.seq_len, windows.stream_length)


def result(spec: Spec, run_dir: Path, data: LanguageModelData) -> dict[str, Any]:
    """Steps from last.ckpt, tokens from the windows, bpc from the validate and test records."""
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    steps = int(ckpt["global_step"])
    validate = newest(run_dir / "evals", "validate-*") / "metrics.csv"
    test = newest(run_dir / "evals", "test-*") / "metrics.csv"
    return asdict(spec) | {
        "config": str(spec.config.relative_to(REPO)),
        "steps": steps,
        "tokens_seen": tokens_seen(data, spec, steps),
        "val_bpc": last_metric(validate, "val/bpc"),
        "test_bpc": last_metric(test, "test/bpc"),
        "run_dir": str(run_dir),
    }


def run(args: Any) -> dict[str, Any]:
    """Fit both for ``--minutes``, then validate and test both final checkpoints."""
    data = language_model_data(args.data)
    data.setup("fit")
    specs = build_specs(args, data.vocab_size)
    root = Path(args.root_dir)
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        print(
            f"  {spec.name}: {spec.cell} hidden {spec.hidden_size}, {spec.params:,} parameters, "
            f"B={spec.batch_size} x T={spec.seq_len}, {spec.precision}; log {root / spec.name}.log",
            flush=True,
        )
    seconds = round(args.minutes * 60)
    budget = [f"--trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}", "--trainer.max_steps=-1"]
    fit_extra = {s.name: [*budget, "--trainer.enable_progress_bar=false"] for s in specs}
    fit_s = in_parallel("fit", specs, root, args, fit_extra)
    run_dirs = {s.name: newest(root / s.name, "version_*") for s in specs}
    for verb in ("validate", "test"):
        extra = {s.name: [f"--ckpt_path={run_dirs[s.name] / 'checkpoints' / 'last.ckpt'}"] for s in specs}
        in_parallel(verb, specs, root, args, extra)
    rows = [result(s, run_dirs[s.name], data) for s in specs]
    threads = args.threads if args.sequential else 1
    return {"fit_wall_seconds": fit_s, "minutes": args.minutes, "threads_per_process": threads, "rows": rows}


def table(rows: list[dict[str, Any]]) -> str:
    header = ["cell", "params", "window (B x T)", "precision", "steps", "tokens seen", "val bpc", "test bpc"]
    body = [
        [
            r["cell"],
            f"{r['params']:,}",
            f"{r['batch_size']} x {r['seq_len']}",
            r["precision"],
            f"{r['steps']:,}",
            f"{r['tokens_seen']:,}",
            f"{r['val_bpc']:.4f}",
            f"{r['test_bpc']:.4f}",
        ]
        for r in rows
    ]
    return markdown(header, body)
