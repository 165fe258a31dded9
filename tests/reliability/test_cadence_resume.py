"""Resuming from a ``last.ckpt`` written by ``--run.checkpoint_every_n_steps`` (in the middle of an
epoch, between validations) continues with the next batch: the run ends with the same weights and the
same training losses as one that was never stopped. Found by benchmarks/faults.py: the data loaders
counted Lightning's ``completed`` batches, which lags the checkpoint by one at that moment, so the
resumed run trained one batch twice and every later batch one step late."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from seqlab.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


def _train_losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as file:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(file) if r.get("train/loss")}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def _stop_resume_and_straight(config: Path, args: list[str]) -> tuple[Path, Path]:
    """Train 6 steps (the cadence writes last.ckpt at step 6 from on_train_batch_end), resume to 14,
    and train 14 steps straight; no validation in between."""
    common = [
        "fit",
        "--config",
        str(config),
        *args,
        "--trainer.precision=32-true",
        "--trainer.log_every_n_steps=1",
        "--run.checkpoint_every_n_steps=3",
    ]
    main([*common, "--run.name=stopped", "--trainer.max_steps=6"])
    main([*common, "--run.name=stopped", "--ckpt_path=last", "--trainer.max_steps=14"])
    main([*common, "--run.name=straight", "--trainer.max_steps=14"])
    return Path("runs/stopped/version_0"), Path("runs/straight/version_0")


def _assert_same_training(resumed: Path, straight: Path) -> None:
    losses_a, losses_b = _train_losses(resumed), _train_losses(straight)
    assert sorted(losses_a) == sorted(losses_b) == list(range(14))
    assert losses_a == losses_b  # the same batch at every step
    a, b = _weights(resumed), _weights(straight)
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_language_model_resumes_exactly_from_a_cadence_checkpoint(tiny_fit_args):
    """TBPTT streams (the windows a loader skips on resume come from the same count)."""
    args = [*tiny_fit_args, "--trainer.val_check_interval=500"]
    _assert_same_training(*_stop_resume_and_straight(CONFIGS / "generation/char_lstm.yaml", args))


def _classifier_args(tiny_tsv: dict[str, Path], tiny_trainer_args: list[str], *extra: str) -> list[str]:
    """A tiny classifier over shuffled length buckets, 10 batches an epoch, no validation."""
    return [
        *tiny_trainer_args,
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
        "--data.batch_size=4",
        *extra,
        "--model.net.embedding_size=8",
        "--model.net.hidden_size=8",
        "--trainer.val_check_interval=1.0",
        "--trainer.check_val_every_n_epoch=100",
    ]


CLASSIFIER = CONFIGS / "classification/tsv_word_bigru_attention.yaml"


def test_example_task_resumes_exactly_from_a_cadence_checkpoint(tiny_tsv, tiny_trainer_args):
    """A classifier over shuffled length buckets (the example DataModules' resumable loader), 10
    batches an epoch: the cadence checkpoint is mid-epoch and the resumed run crosses an epoch."""
    args = _classifier_args(tiny_tsv, tiny_trainer_args)
    _assert_same_training(*_stop_resume_and_straight(CLASSIFIER, args))


def test_sampled_subword_segmentations_resume_exactly(tiny_tsv, tiny_trainer_args):
    """The same with subword sampling: a resumed run draws the segmentations the stopped one would
    have drawn (each is seeded by epoch and text, not by how many draws came before)."""
    sampling = [
        "--data.tokenizer=seqlab.data.SentencePieceTokenizer",
        "--data.tokenizer.model_type=unigram",
        "--data.tokenizer.vocab_size=300",
        "--data.tokenizer.sampling_alpha=0.1",
    ]
    args = _classifier_args(tiny_tsv, tiny_trainer_args, *sampling)
    _assert_same_training(*_stop_resume_and_straight(CLASSIFIER, args))


def test_translation_with_bpe_dropout_resumes_exactly(tiny_parallel, tiny_trainer_args):
    """Transduction with subword sampling on both sides (a joint BPE with dropout): stopped mid-epoch at
    step 6 and resumed to 14 (across an epoch), it trains on the very pairs and segmentations, and ends
    with the very weights, of a run never stopped."""
    train, validation = ([str(p) for p in tiny_parallel[s]] for s in ("train", "validation"))
    args = [
        *tiny_trainer_args,
        f"--data.source.train=[{train[0]},{train[1]}]",
        f"--data.source.validation=[{validation[0]},{validation[1]}]",
        "--data.source_tokenizer.vocab_size=300",
        "--data.source_tokenizer.sampling_alpha=0.3",
        "--data.batch_size=4",
        "--model.net.embedding_size=8",
        "--model.net.hidden_size=8",
        "--model.net.encoder_layers=1",
        "--model.net.decoder_layers=1",
        "--trainer.val_check_interval=1.0",
        "--trainer.check_val_every_n_epoch=100",
    ]
    config = CONFIGS / "transduction/translation_spm_bigru_luong.yaml"
    _assert_same_training(*_stop_resume_and_straight(config, args))
