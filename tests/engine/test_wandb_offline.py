"""End-to-end: W&B offline runs record the resolved config and metrics, read back with wandb's own
tooling (`wandb leet inspect`), and a resumed fit continues the same W&B run."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from seqlab.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
WANDB_ARGS = [
    "--run.wandb.mode=offline",
    "--run.wandb.project=p",
    "--run.wandb.group=g",
    "--run.wandb.tags=[a,b]",
]


def fit(tiny_fit_args: list[str], *extra: str) -> None:
    args = [a for a in tiny_fit_args if not a.startswith("--run.wandb.mode")]
    main(["fit", "--config", str(CONFIG), *args, *WANDB_ARGS, *extra])


def last_val_loss(run: Path) -> float:
    with open(run / "metrics.csv", newline="") as file:
        return [float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")][-1]


def test_offline_run_records_config_summary_group_and_tags(tiny_fit_args, wandb_records):
    """The .wandb log holds the resolved seqlab config, the final val/loss, project, group and tags."""
    fit(tiny_fit_args, "--model.net.hidden_size=24")
    run = Path("runs/char_lstm/version_0")
    (offline,) = wandb_records.offline_runs(run)
    (log,) = offline.glob("run-*.wandb")
    run_id = (run / "wandb_run_id").read_text().strip()
    assert log.name == f"run-{run_id}.wandb"

    info = wandb_records.summary(offline)
    assert info["run_id"] == run_id
    assert info["state"] == "finished"
    assert info["exit_code"] == 0
    assert info["project"] == "p"
    assert sorted(info["tags"]) == ["a", "b"]
    config = info["config"]
    assert config["model.init_args.net.hidden_size"] == 24
    assert config["model.class_path"] == "seqlab.tasks.GenerationTask"
    assert config["trainer.max_steps"] == 6
    assert config["run.wandb.group"] == "g"
    assert info["summary"]["val/loss"] == pytest.approx(last_val_loss(run), abs=1e-6)
    assert info["summary"]["trainer/global_step"] == 5

    record = wandb_records.run_record(offline)
    assert record["run_group"] == "g"
    assert record["run_id"] == run_id


def test_resumed_fit_continues_the_same_wandb_run(tiny_fit_args, wandb_records):
    """`--ckpt_path last` logs into a second offline-run directory under the same W&B run id, and its
    summary carries the continued steps."""
    fit(tiny_fit_args)
    run = Path("runs/char_lstm/version_0")
    run_id = (run / "wandb_run_id").read_text().strip()
    fit(tiny_fit_args, "--ckpt_path", "last", "--trainer.max_steps=9")

    assert (run / "wandb_run_id").read_text().strip() == run_id
    first, second = wandb_records.offline_runs(run)
    # wandb names the directory offline-run-<time>-<id>, adding -N when one of that name exists
    for directory in (first, second):
        assert re.fullmatch(rf"offline-run-\d{{8}}_\d{{6}}-{run_id}(-\d+)?", directory.name), directory.name
    assert (second / f"run-{run_id}.wandb").is_file()
    resumed = wandb_records.summary(second)
    assert resumed["run_id"] == run_id
    assert resumed["state"] == "finished"
    assert resumed["summary"]["trainer/global_step"] == 8
    assert resumed["summary"]["val/loss"] == pytest.approx(last_val_loss(run), abs=1e-6)
    assert not Path("runs/char_lstm/version_1").exists()


def test_checkpoints_and_tokenizer_as_artifacts_of_an_offline_run(tiny_fit_args, wandb_records):
    """`log_model` and `log_tokenizer` record `model` (best and last checkpoints) and `tokenizer`
    artifacts in the offline run; `wandb sync` uploads them later."""
    fit(tiny_fit_args, "--run.wandb.log_model=true", "--run.wandb.log_tokenizer=true")
    run = Path("runs/char_lstm/version_0")
    (offline,) = wandb_records.offline_runs(run)
    artifacts = {
        r["artifact"]["type"]: sorted(c["path"] for c in r["artifact"]["manifest"]["contents"])
        for r in map(json.loads, wandb_records.inspect(offline).splitlines())
        if r.get("type") == "artifact"
    }
    # Besides the two asked for, W&B files the validation samples table (val/samples) as a run_table.
    assert artifacts == {
        "model": ["best.ckpt", "last.ckpt"],
        "tokenizer": ["tokenizer.json"],
        "run_table": ["val/samples.table.json"],
    }
    vocab = json.loads((run / "tokenizers" / "tokenizer.json").read_text())
    assert vocab["type"] == "char" and len(vocab["vocab"]) > 20
