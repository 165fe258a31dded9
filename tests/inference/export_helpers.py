"""Tiny tasks with random weights saved as seqlab checkpoints (the layout training writes: weights,
hyperparameters, the task class and the DataModule's state), and ``seqlab export`` run on them once
per format, for the export tests of every kind: outputs only need comparing, so nothing is trained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from seqlab.cli import main
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.data.tokenizers.words import WordTokenizer
from seqlab.nn import AcousticConfig, ClassifierConfig, RecurrentLMConfig, TaggerConfig
from seqlab.tasks import ClassificationTask, GenerationTask, LabellingTask, SpeechRecognitionTask

FORMATS = ("onnx", "torch-export")
BACKEND = {"onnx": "onnxruntime", "torch-export": "torch"}
WORDS = ["the", "a", "cat", "dog", "sleeps", "runs", "barks", ".", "quickly", "slowly"]
TAGS = ["O", "B-ANIMAL", "I-ANIMAL", "B-ACT", "I-ACT"]


def save_checkpoint(path: Path, task: Any, data_module: str, data_state: dict[str, Any]) -> Path:
    """``task`` (its weights, hyperparameters and class) with ``data_state`` filed under ``data_module``."""
    torch.save(
        {
            "state_dict": task.state_dict(),
            "hyper_parameters": dict(task.hparams),
            "seqlab": {"task_class": f"{type(task).__module__}.{type(task).__qualname__}"},
            data_module: data_state,
        },
        path,
    )
    return path


def randomise(task: torch.nn.Module) -> torch.nn.Module:
    """Weights drawn wider than initialisation (a random CRF and biases matter), in eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        for param in task.parameters():
            param.add_(torch.randn_like(param) * 0.5)
    return task.eval()


def classifier_checkpoint(folder: Path, cell: str = "lstm", pooling: str = "last") -> Path:
    words = WordTokenizer().fit([" ".join(WORDS)])
    labels = ["pos", "neg", "neutral"]
    net = ClassifierConfig(cell=cell, embedding_size=8, hidden_size=12, num_layers=2, pooling=pooling)
    task = randomise(ClassificationTask(words.vocab_size, labels, net))
    state = {"tokenizer": words.state_dict(), "labels": labels, "max_length": 40}
    return save_checkpoint(folder / f"classifier_{cell}.ckpt", task, "ClassificationData", state)


def tagger_checkpoint(folder: Path, crf: bool = True, chars: bool = True) -> Path:
    words = WordTokenizer().fit([" ".join(WORDS)])
    char_tokenizer = CharTokenizer().fit(WORDS) if chars else None
    net = TaggerConfig(
        word_embedding_size=8, char_embedding_size=4, char_hidden_size=5, hidden_size=10, crf=crf
    )
    vocab = char_tokenizer.vocab_size if char_tokenizer else 0
    task = randomise(LabellingTask(words.vocab_size, TAGS, vocab, net))
    state = {
        "tokenizer": words.state_dict(),
        "chars": char_tokenizer.state_dict() if char_tokenizer else None,
        "labels": TAGS,
        "max_word_length": 6,
    }
    name = f"tagger_crf{int(crf)}_chars{int(chars)}.ckpt"
    return save_checkpoint(folder / name, task, "LabellingData", state)


def lm_checkpoint(folder: Path, cell: str = "lstm") -> Path:
    chars = CharTokenizer().fit(["def main():\n    return 1\n", "the cat sleeps"])
    net = RecurrentLMConfig(cell=cell, embedding_size=8, hidden_size=16, num_layers=2)
    task = randomise(GenerationTask(chars.vocab_size, net))
    return save_checkpoint(
        folder / f"lm_{cell}.ckpt", task, "LanguageModelData", {"tokenizer": chars.state_dict()}
    )


def ctc_checkpoint(folder: Path, num_mel_bins: int = 16, **net: Any) -> Path:
    from seqlab.data.modules.speech_features import FeatureSettings

    alphabet = Alphabet.fit(["abc cab", "bad"])
    config = AcousticConfig(**{"cell": "gru", "hidden_size": 12, "num_layers": 2, "dropout": 0.0, **net})
    task = randomise(SpeechRecognitionTask(alphabet.size, num_mel_bins, config, eval_beam_size=4))
    state = {
        "tokenizer": alphabet.state_dict(),
        "features": FeatureSettings(num_mel_bins=num_mel_bins).state_dict(),
    }
    return save_checkpoint(folder / "ctc.ckpt", task, "SpeechData", state)


def export(capsys: pytest.CaptureFixture[str], ckpt: Path, fmt: str, output: Path) -> list[str]:
    """``seqlab export`` of ``ckpt`` into ``output``; its standard output lines (stderr must be empty)."""
    capsys.readouterr()
    main(["export", "--ckpt_path", str(ckpt), "--format", fmt, "--output", str(output)])
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return captured.out.splitlines()


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one ``seqlab...: error:`` line of a command that must exit with status 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(lines) == 1, lines
    return lines[0]
