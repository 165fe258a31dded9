"""Real checkpoints of every kind of task that a seqlab command reads (language model, classifier,
encoder-decoder, speech recognizer), each from a seconds-long `seqlab fit`, trained once per test
session for the tests of what those commands do with bad checkpoints and outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from tests.data.speech_helpers import write_manifest, write_wav

REPO = Path(__file__).resolve().parents[2]
LM_CONFIG = REPO / "configs" / "generation" / "char_gru.yaml"  # float32: no bf16 LSTM kernels needed
QUIET = [
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.precision=32-true",
    "--run.wandb.mode=disabled",
]
_trained: dict[str, Path] = {}


def lm_data_args(folder: Path) -> list[str]:
    """A small Python-source corpus for the language model config (also for evaluating it)."""
    text = (Path(os.__file__)).read_text(encoding="utf-8")[:12_000]
    for split, part in {"train": text[:10_000], "validation": text[10_000:], "test": text[10_000:]}.items():
        (folder / f"lm_{split}.txt").write_text(part, encoding="utf-8")
    return [
        "--data.corpus=seqlab.data.TextFiles",
        *(f"--data.corpus.{split}={folder / f'lm_{split}.txt'}" for split in ("train", "validation", "test")),
        "--data.batch_size=4",
        "--data.seq_len=16",
        "--model.net.hidden_size=16",
        "--model.net.embedding_size=8",
        "--trainer.val_check_interval=2",
    ]


def _fit(folder: Path, name: str, args: list[str]) -> Path:
    main(["fit", *args, f"--run.root_dir={folder / 'runs'}", f"--run.name={name}", *QUIET])  # after --config
    return folder / "runs" / name / "version_0" / "checkpoints" / "last.ckpt"


def _language_model(folder: Path) -> Path:
    return _fit(folder, "lm", ["--config", str(LM_CONFIG), *lm_data_args(folder)])


def _classifier(folder: Path) -> Path:
    rows = [("a joy to watch", "pos"), ("dull and slow", "neg"), ("warm and funny", "pos")] * 4
    train = folder / "clf.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows), encoding="utf-8")
    return _fit(
        folder,
        "clf",
        [
            "--model=seqlab.tasks.ClassificationTask",
            "--model.net.hidden_size=8",
            "--model.net.embedding_size=8",
            "--data=seqlab.data.ClassificationData",
            "--data.source=seqlab.data.ClassificationFiles",
            f"--data.source.train={train}",
            f"--data.source.validation={train}",
            "--data.batch_size=4",
        ],
    )


def _encoder_decoder(folder: Path) -> Path:
    words = ["cat", "dog", "tea", "read", "mat", "owl", "fox", "sun"]
    table = folder / "reverse.tsv"
    table.write_text("source\ttarget\n" + "".join(f"{w}\t{' '.join(reversed(w))}\n" for w in words))
    return _fit(
        folder,
        "seq2seq",
        [
            "--model=seqlab.tasks.TransductionTask",
            "--model.net.hidden_size=8",
            "--model.net.embedding_size=8",
            "--data=seqlab.data.TransductionData",
            "--data.source=seqlab.data.ParallelFiles",
            f"--data.source.train={table}",
            f"--data.source.validation={table}",
            "--data.batch_size=4",
        ],
    )


def _speech(folder: Path) -> Path:
    audio = folder / "audio"
    rows = [
        {"audio": str(write_wav(audio / f"{text}.wav", 0.4, hz=hz)), "text": text}
        for text, hz in (("a", 400.0), ("b", 1000.0), ("ab", 2500.0), ("ba", 700.0))
    ]
    manifest = write_manifest(folder / "speech.jsonl", rows)
    return _fit(
        folder,
        "speech",
        [
            "--model=seqlab.tasks.SpeechRecognitionTask",
            "--model.net.hidden_size=8",
            "--model.net.num_layers=1",
            "--data=seqlab.data.SpeechData",
            "--data.source=seqlab.data.SpeechManifests",
            f"--data.source.train={manifest}",
            f"--data.source.validation={manifest}",
            "--data.num_mel_bins=16",
            "--data.spec_augment=false",
            "--data.batch_size=2",
        ],
    )


def trained_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``last.ckpt`` of a fitted ``language_model``, ``classifier``, ``encoder_decoder`` and
    ``speech`` run (absolute paths; trained on the first call of the session)."""
    if not _trained:
        folder = tmp_path_factory.mktemp("trained_checkpoints")
        environ, threads = dict(os.environ), torch.get_num_threads()
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)
            patch.setenv("SEQLAB_CACHE", str(folder / "cache"))
            patch.setenv("HF_HUB_OFFLINE", "1")
            patch.setenv("HF_DATASETS_OFFLINE", "1")
            torch.set_num_threads(1)
            try:
                for kind, train in (
                    ("language_model", _language_model),
                    ("classifier", _classifier),
                    ("encoder_decoder", _encoder_decoder),
                    ("speech", _speech),
                ):
                    _trained[kind] = train(folder).resolve()
            finally:  # a fit exports its run directory into this process
                os.environ.clear()
                os.environ.update(environ)
                torch.set_num_threads(threads)
    return dict(_trained)
