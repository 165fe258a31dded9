"""NgramTask end to end: `seqlab fit` with the n-gram config counts exactly the training windows, writes
the same run directory as the neural runs, validates, resumes, samples, and reports the same units on
the same tokens as a recurrent model."""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.data import LanguageModelData, TextFiles
from seqlab.engine.run_dir import RUN_DIR_ENV
from seqlab.engine.task_data import hand_data
from seqlab.nn import NgramConfig, NgramLM, RecurrentLMConfig
from seqlab.tasks import GenerationTask, NgramTask

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_ngram.yaml"
ORDER = 5  # the config's
WINDOWS = 625  # tiny_corpus: 40,000 characters in 4 streams of 9,999 predicted tokens, 16 per window
_trained: dict[str, Path] = {}


def ngram_args(tiny_fit_args: list[str], *extra: str) -> list[str]:
    """The tiny-data overrides without the neural model's sizes, for one whole counting pass (a step
    is a window, so max_steps=-1 counts them all) with a validation every 125 windows: the last one
    after the last window."""
    args = [a for a in tiny_fit_args if not a.startswith("--model.")]
    return [
        *args,
        "--trainer.max_steps=-1",
        "--trainer.val_check_interval=125",
        "--trainer.limit_val_batches=1.0",
        *extra,
    ]


def tiny_data(tiny_corpus: dict[str, Path]) -> LanguageModelData:
    corpus = TextFiles(**{split: str(path) for split, path in tiny_corpus.items()})
    return LanguageModelData(corpus=corpus, batch_size=4, seq_len=16)


def counted_directly(tiny_corpus: dict[str, Path]) -> np.ndarray:
    """The order-5 counts of the tiny training windows, counted here without Lightning, as [2, M]."""
    data = tiny_data(tiny_corpus)
    data.setup("fit")
    windows, model, state = data.windows["train"], NgramLM(data.vocab_size, NgramConfig(ORDER)), None
    for k in range(len(windows)):
        state = model.update(*windows[k], state)
    return np.stack(model.counts())


def metric_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def reported(stdout: str, key: str) -> float:
    """A metric from the table Lightning prints after validate/test."""
    match = re.search(rf"^\s*{re.escape(key)}\s+([-+0-9.eE]+)\s*$", stdout, re.MULTILINE)
    assert match, f"{key} not reported in:\n{stdout}"
    return float(match.group(1))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture
def run(tiny_fit_args) -> Path:
    """Absolute path of a char_ngram run on tiny data (fitted once per module)."""
    if "run" not in _trained:
        main(["fit", "--config", str(CONFIG), *ngram_args(tiny_fit_args)])
        _trained["run"] = Path("runs/char_ngram/version_0").resolve()
    return _trained["run"]


def test_fit_counts_the_training_windows_and_validate_reproduces(run, tiny_fit_args, tiny_corpus, capsys):
    """The run directory holds metrics.csv with val/loss and val/bpc (every 125 windows, evaluating
    the counts so far: the more counts the lower), the counting statistics, and a weights_only
    last.ckpt whose counts are exactly those of the training windows; `seqlab validate` on it gives
    the last logged val/loss."""
    rows = metric_rows(run / "metrics.csv")
    vals = [(int(r["step"]), float(r["val/loss"]), float(r["val/bpc"])) for r in rows if r.get("val/loss")]
    assert [step for step, _, _ in vals] == [125 * i - 1 for i in range(1, 6)]
    losses = [loss for _, loss, _ in vals]
    assert losses == sorted(losses, reverse=True) and losses[0] < math.log(100)
    end, end_bpc = vals[-1][1:]
    assert end_bpc == pytest.approx(end / math.log(2), rel=1e-5)  # one character per token
    (stats,) = [r for r in rows if r.get("train/ngrams")]
    ckpt = load(run / "checkpoints" / "last.ckpt")
    counts = ckpt["state_dict"]["model._extra_state"]
    assert float(stats["train/ngrams"]) == counts.size(1)
    assert float(stats["train/count_seconds"]) > 0
    assert ckpt["global_step"] == WINDOWS
    assert ckpt["seqlab"]["task_class"] == "seqlab.tasks.ngram.NgramTask"
    np.testing.assert_array_equal(counts.numpy(), counted_directly(tiny_corpus))
    assert int(counts[1].sum()) == 4 * 9_999

    capsys.readouterr()
    args = ngram_args(tiny_fit_args, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    main(["validate", "--config", str(CONFIG), *args])
    out = capsys.readouterr().out
    assert reported(out, "val/loss") == pytest.approx(end, abs=1e-5)
    assert reported(out, "val/bpc") == pytest.approx(end_bpc, abs=1e-5)


def test_generate_samples_from_an_ngram_run(run, capsys):
    """`seqlab generate` loads the counts from the checkpoint and samples: greedy is deterministic."""

    def generate(*args: str) -> str:
        capsys.readouterr()
        main(["generate", "--ckpt_path", str(run), "--prompt", "def ", "--max_new_tokens", "40", *args])
        return capsys.readouterr().out[:-1]  # print adds one newline

    greedy = generate("--temperature", "0")
    assert greedy.startswith("def ") and len(greedy) == 44
    assert generate("--temperature", "0") == greedy
    sampled = generate("--temperature", "1", "--seed", "1")
    assert len(sampled) == 44 and sampled == generate("--temperature", "1", "--seed", "1")


def test_resume_mid_epoch_counts_each_window_once(tiny_fit_args, tiny_corpus):
    """Stopped after 250 windows and resumed from last.ckpt, the counts equal one pass over the windows."""
    main(["fit", "--config", str(CONFIG), *ngram_args(tiny_fit_args, "--trainer.max_steps=250")])
    first = load(Path("runs/char_ngram/version_0/checkpoints/last.ckpt"))
    assert first["global_step"] == 250
    assert int(first["state_dict"]["model._extra_state"][1].sum()) == 250 * 4 * 16
    os.environ.pop(RUN_DIR_ENV, None)
    main(["fit", "--config", str(CONFIG), *ngram_args(tiny_fit_args, "--ckpt_path", "last")])
    resumed = load(Path("runs/char_ngram/version_0/checkpoints/last.ckpt"))
    assert resumed["global_step"] == WINDOWS
    np.testing.assert_array_equal(
        resumed["state_dict"]["model._extra_state"].numpy(), counted_directly(tiny_corpus)
    )


def test_ngram_and_recurrent_model_report_the_same_unit_on_the_same_tokens(tiny_corpus):
    """Validated on one data module, both sum cross-entropy over the same validation targets and
    report nats per token, perplexity and bits per character the same way."""
    data = tiny_data(tiny_corpus)
    trainer_args = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    ngram = NgramTask(vocab_size=data.vocab_size, net=NgramConfig(order=3))
    L.Trainer(max_epochs=1, num_sanity_val_steps=0, limit_val_batches=0, **trainer_args).fit(ngram, data)
    lstm = GenerationTask(
        vocab_size=data.vocab_size, net=RecurrentLMConfig(embedding_size=8, hidden_size=16, num_layers=1)
    )
    results = {}
    for name, task in (("ngram", ngram), ("lstm", lstm)):
        hand_data(task, data)  # what seqlab's engine does after building
        (metrics,) = L.Trainer(**trainer_args).validate(task, data, verbose=False)
        results[name] = (int(task._eval_totals[1]), metrics)
    tokens = data.windows["validation"].num_tokens
    assert results["ngram"][0] == results["lstm"][0] == tokens == 4 * ((6_000 - 1) // 4)
    for _, metrics in results.values():
        loss = metrics["val/loss"]
        assert metrics["val/ppl"] == pytest.approx(math.exp(loss), rel=1e-5)
        assert metrics["val/bpc"] == pytest.approx(loss / math.log(2) / data.chars_per_token["validation"])
    assert results["ngram"][1]["val/loss"] < math.log(data.vocab_size) - 1  # it has learned
    assert results["lstm"][1]["val/loss"] > results["ngram"][1]["val/loss"]  # untrained


def test_more_than_one_epoch_or_process_is_refused(tiny_fit_args):
    """A second epoch would count the training split twice; counts are not merged across processes."""
    with pytest.raises(ValueError, match=r"max_epochs: 1 \(got 2\)"):
        main(["fit", "--config", str(CONFIG), *ngram_args(tiny_fit_args, "--trainer.max_epochs=2")])
    task = NgramTask(vocab_size=10)
    task.trainer = type("FakeTrainer", (), {"world_size": 2, "max_epochs": 1})()
    with pytest.raises(RuntimeError, match="2 processes"):
        task.setup("fit")
