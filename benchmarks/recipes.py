"""Train and test seqlab's recipes on the real public datasets in ``../shared/data`` and print one table:
dataset, metric, seqlab's test figure, the published reference, wall time and the CPU.

    .venv/bin/python benchmarks/recipes.py                       # every recipe, full training
    .venv/bin/python benchmarks/recipes.py --recipe clinc150 atis_upos
    .venv/bin/python benchmarks/recipes.py --recipe clinc150 --quick   # 40 steps: checks the pipeline

Each recipe is a shipped config (``configs/<problem>/<name>.yaml``); it is trained with ``seqlab fit``
and its best checkpoint scored with ``seqlab test``, in this process, runs under ``--root_dir``. The
figure is the test split's; the reference is the one in the dataset's README (or issue 15's target
where no published figure exists). ``--quick`` figures are of an untrained model: they show the script
works, not what the recipe reaches. It runs in the repository root, whatever the current directory
(the configs name ``../shared/data`` relative to it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml
from cells_common import cpu_name

from seqlab.engine.training_cli import run_training

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Recipe:
    """A config, the test metric it is judged by, and the figure to compare it with."""

    config: str
    dataset: str
    metric: str  # the key ``seqlab test`` logs
    shown: str  # how the table names it
    percent: bool  # shown x100
    reference: str


RECIPES = {
    "clinc150": Recipe(
        "configs/classification/clinc150_spm_bilstm.yaml",
        "CLINC150 (in-scope, 150 intents)",
        "test/accuracy",
        "accuracy %",
        True,
        "MLP 93.5, BERT 96.9 (Larson et al. 2019)",
    ),
    "wnut17": Recipe(
        "configs/labelling/wnut17_charbilstm_crf.yaml",
        "WNUT-17 NER",
        "test/span_f1",
        "entity F1 %",
        True,
        "40.78 (2017 best, external resources)",
    ),
    "atis_upos": Recipe(
        "configs/labelling/atis_upos_charbilstm.yaml",
        "UD English-ATIS UPOS",
        "test/accuracy",
        "UPOS accuracy %",
        True,
        "99.07 (UDPipe 2 + BERT, UD 2.12)",
    ),
    "war_and_peace": Recipe(
        "configs/generation/war_and_peace_char_lstm.yaml",
        "War and Peace (char LM)",
        "test/bpc",
        "bits/char",
        False,
        "none comparable; target <= 1.45",
    ),
    "enja": Recipe(
        "configs/transduction/enja_spm_bigru_luong.yaml",
        "small_parallel_enja ja->en",
        "test/bleu",
        "BLEU (13a)",
        False,
        "none published; target >= 30",
    ),
    "fsdd": Recipe(
        "configs/transduction/fsdd_ctc_bigru.yaml",
        "FSDD spoken digits",
        "test/wer",
        "WER %",
        True,
        "none verified; target <= 3",
    ),
}


def _quiet_args() -> list[str]:
    return ["--run.wandb.mode", "disabled", "--trainer.enable_progress_bar", "false"]


def run_recipe(name: str, root: Path, quick: bool) -> dict[str, object]:
    """Fit the recipe's config, test its best checkpoint; the figure and the wall times."""
    recipe = RECIPES[name]
    config = REPO / recipe.config
    run_name = yaml.safe_load(config.read_text())["run"]["name"]
    common = ["--config", str(config), "--run.root_dir", str(root), *_quiet_args()]
    extra = ["--run.quick", "true"] if quick else []
    start = time.perf_counter()
    fit = run_training(["fit", *common, *extra])
    fit_s = time.perf_counter() - start
    run_dir = getattr(fit, "run_dir", None) or root / run_name / "latest"
    start = time.perf_counter()
    test = run_training(["test", *common, *extra, "--ckpt_path", str(run_dir)])
    test_s = time.perf_counter() - start
    value = test.trainer.callback_metrics.get(recipe.metric)
    figure = None if value is None else float(value) * (100 if recipe.percent else 1)
    return {
        "recipe": name,
        **asdict(recipe),
        "figure": figure,
        "fit_s": round(fit_s, 1),
        "test_s": round(test_s, 1),
        "quick": quick,
    }


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def table(rows: list[dict[str, object]], cpu: str) -> str:
    """The results as a Markdown table, then the machine."""
    lines = [
        "| dataset | metric | seqlab (test) | published reference | wall time (fit + test) |",
        "|---|---|---:|---|---:|",
    ]
    for row in rows:
        figure = "missing" if row["figure"] is None else f"{row['figure']:.2f}"
        figure += " (quick: untrained)" if row["quick"] else ""
        wall = _minutes(float(row["fit_s"]) + float(row["test_s"]))  # type: ignore[arg-type]
        lines.append(f"| {row['dataset']} | {row['shown']} | {figure} | {row['reference']} | {wall} |")
    lines.append("")
    machine = f"CPU: {cpu}; {os.cpu_count()} CPUs, torch on {torch.get_num_threads()} threads"
    lines.append(f"{machine}; load average {os.getloadavg()[0]:.1f} at the end")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", nargs="+", choices=[*RECIPES, "all"], default=["all"])
    parser.add_argument("--quick", action="store_true", help="40 steps and 5 test batches (--run.quick)")
    parser.add_argument("--root_dir", default="runs/recipes", help="where the runs are written")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's own); 1 on a machine other jobs share, where spinning "
        "OpenMP threads made a 40-step quick fit take minutes",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.chdir(REPO)  # the configs name ../shared/data relative to the repository
    names = list(RECIPES) if "all" in args.recipe else args.recipe
    root = Path(args.root_dir) / ("quick" if args.quick else "full")
    rows = [run_recipe(name, root, args.quick) for name in names]
    cpu = cpu_name()
    print()
    print(table(rows, cpu))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
