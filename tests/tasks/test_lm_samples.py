"""Language-model runs write seeded validation samples to ``media/`` (and W&B) after each validation,
rank 0 only, never during the sanity check; ``samples: 0`` turns them off."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from seqlab.cli import main
from seqlab.engine.errors import SettingError
from seqlab.nn import RecurrentLMConfig
from seqlab.tasks import GenerationTask

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "generation"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_each_validation_writes_seeded_samples(tiny_fit_args, tiny_corpus):
    # Without the feature no val_samples file is written at all; a sampler not seeded per validation
    # or one writing during the sanity check (step 0) fails the checks below.
    config = str(CONFIGS / "char_lstm.yaml")
    samples = ["--model.samples=2", "--model.sample_length=40", "--trainer.num_sanity_val_steps=1"]
    args = [a for a in tiny_fit_args if not a.startswith("--run.wandb.mode")]
    main(["fit", "--config", config, *args, *samples, "--run.wandb.mode=offline"])
    media = Path("runs/char_lstm/version_0/media")
    files = sorted(p.name for p in media.glob("val_samples-step*.csv"))
    assert files == ["val_samples-step3.csv", "val_samples-step6.csv"]  # not the sanity check's step 0
    rows = _rows(media / "val_samples-step6.csv")
    validation = tiny_corpus["validation"].read_text(encoding="utf-8")
    assert len(rows) == 2
    for row in rows:
        assert row["prompt"] and row["prompt"] in validation  # the start of a validation stream
        assert len(row["sample"]) == 40  # characters: one per sampled token
    assert rows[0]["sample"] != rows[1]["sample"]
    # The same rows as a W&B table, one per validation.
    (offline,) = Path("runs/char_lstm/version_0/wandb").glob("offline-run-*")
    tables = [
        json.loads(t.read_text(encoding="utf-8"))
        for t in offline.glob("files/media/table/val/samples_*.json")
    ]
    assert all(t["columns"] == ["prompt", "sample"] for t in tables)
    written = [[[r["prompt"], r["sample"]] for r in _rows(media / name)] for name in files]
    assert sorted(t["data"] for t in tables) == sorted(written)


def test_zero_samples_writes_none(tiny_fit_args):
    main(["fit", "--config", str(CONFIGS / "char_window.yaml"), *tiny_fit_args, "--model.samples=0"])
    (run,) = Path("runs").glob("*/version_0")
    assert not list(run.glob("media/val_samples-*"))


@pytest.mark.parametrize("setting", [{"samples": -1}, {"sample_length": 2.5}])
def test_bad_sample_settings_are_named(setting):
    with pytest.raises(SettingError, match=next(iter(setting))):
        GenerationTask(vocab_size=5, **setting)


def test_data_without_detokenize_trains_on_with_a_warning(tmp_path):
    # Plain DataLoaders (no seqlab DataModule handed over): samples are skipped with a warning, not a crash.
    windows = [(torch.randint(0, 7, (2, 8)), torch.randint(0, 7, (2, 8))) for _ in range(3)]
    task = GenerationTask(vocab_size=7, net=RecurrentLMConfig(embedding_size=4, hidden_size=8))
    quiet = {"enable_progress_bar": False, "enable_model_summary": False, "enable_checkpointing": False}
    trainer = L.Trainer(
        max_epochs=1, logger=False, num_sanity_val_steps=0, default_root_dir=tmp_path, **quiet
    )
    with pytest.warns(UserWarning, match="no validation samples"):
        trainer.fit(task, DataLoader(windows, batch_size=None), DataLoader(windows, batch_size=None))
    assert trainer.global_step == 3  # the epoch (and its validation) ran to the end
