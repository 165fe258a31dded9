"""Language-model baselines side by side: n-gram (several orders), fixed-window neural LM, vanilla
RNN, GRU and LSTM on the same built-in corpus, split, tokenizer and unit (validation bits per
character), each neural model with the same wall-clock training budget.

Every model is trained by the ordinary `seqlab fit` (so the numbers are exactly what a user gets),
then scored by `seqlab validate` on its final `last.ckpt` (a time budget stops training between
validations). Runs go to `--root-dir` (default runs/baselines/<model>/version_N) and the table is
also written as CSV there. Training times are wall-clock seconds of the fit command.

    .venv/bin/python benchmarks/lm_baselines.py                       # ~15 min on 2 CPU cores
    .venv/bin/python benchmarks/lm_baselines.py --budget 60 --models ngram3,ngram5,lstm
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs" / "generation"


@dataclass
class Spec:
    """One model of the comparison: its config and the overrides that make it this model."""

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    neural: bool = True


def specs(orders: list[int]) -> dict[str, Spec]:
    table = {
        f"ngram{n}": Spec(f"ngram{n}", "char_ngram.yaml", (f"--model.net.order={n}",), neural=False)
        for n in orders
    }
    table["window"] = Spec("window", "char_window.yaml")
    table["rnn"] = Spec("rnn", "char_rnn.yaml")
    table["gru"] = Spec("gru", "char_gru.yaml")
    table["lstm"] = Spec("lstm", "char_lstm.yaml")
    return table


def last_metric(run_dir: Path, key: str) -> float | None:
    """The last value of ``key`` in a run's metrics.csv."""
    value = None
    with open(run_dir / "metrics.csv", newline="") as file:
        for row in csv.DictReader(file):
            if row.get(key):
                value = float(row[key])
    return value


def newest_run(root: Path, name: str) -> Path:
    versions = sorted((root / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise RuntimeError(f"no run directory under {root / name}")
    return versions[-1]


def seqlab(args: list[str], log: Path) -> float:
    """Run one seqlab command, output to ``log``; returns wall seconds; raises on failure."""
    start = time.perf_counter()
    with open(log, "a") as out:
        done = subprocess.run([sys.executable, "-m", "seqlab", *args], stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`seqlab {' '.join(args[:3])} ...` failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - start


def run_one(spec: Spec, root: Path, budget_s: int, extra: list[str]) -> dict[str, object]:
    common = [
        "--config",
        str(CONFIGS / spec.config),
        *spec.overrides,
        *extra,
        f"--run.name={spec.name}",
        f"--run.root_dir={root}",
        "--run.wandb.mode=disabled",
    ]
    if spec.neural:
        minutes, seconds = divmod(budget_s, 60)
        budget = [f"--trainer.max_time=00:00:{minutes:02d}:{seconds:02d}", "--trainer.max_steps=-1"]
    else:
        budget = []
    log = root / f"{spec.name}.log"
    root.mkdir(parents=True, exist_ok=True)
    fit_s = seqlab(["fit", *common, *budget, "--trainer.enable_progress_bar=false"], log)
    run_dir = newest_run(root, spec.name)
    seqlab(["validate", *common, f"--ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"], log)
    return {
        "model": spec.name,
        "val_bpc": last_metric(run_dir, "val/bpc"),
        "val_loss": last_metric(run_dir, "val/loss"),
        "train_seconds": round(fit_s, 1),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="ngram3,ngram5,ngram7,window,rnn,gru,lstm")
    parser.add_argument("--budget", type=int, default=150, help="training seconds per neural model")
    parser.add_argument("--root-dir", default="runs/baselines")
    parser.add_argument("--max-megabytes", type=float, default=None, help="shrink the built-in corpus")
    args = parser.parse_args()

    orders = [int(m[5:]) for m in args.models.split(",") if m.startswith("ngram")]
    table = specs(orders)
    unknown = [m for m in args.models.split(",") if m not in table]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {sorted(table)}")
    extra = []
    if args.max_megabytes is not None:
        extra.append(f"--data.corpus.init_args.max_megabytes={args.max_megabytes}")
    root = Path(args.root_dir)
    rows = []
    for name in args.models.split(","):
        print(f"training {name} ...", flush=True)
        rows.append(run_one(table[name], root, args.budget, extra))
        print(f"  val bpc {rows[-1]['val_bpc']:.4f}  in {rows[-1]['train_seconds']} s", flush=True)

    print(f"\nbuilt-in corpus (PythonStdlib), characters; neural budget {args.budget} s each")
    print(f"{'model':<10}{'val bpc':>10}{'val nats/token':>15}{'train s':>10}")
    for row in rows:
        print(f"{row['model']:<10}{row['val_bpc']:>10.4f}{row['val_loss']:>15.4f}{row['train_seconds']:>10}")
    out = root / "baselines.csv"
    with open(out, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"table written to {out}")


if __name__ == "__main__":
    main()
