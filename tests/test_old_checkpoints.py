"""Checkpoints written before the architecture moved into ``net`` (``hidden_size`` and the like at the
top level of ``hyper_parameters``) still load: the verbs that run checkpoints fold those keys into
``net`` (seqlab.inference.loader), and so do resuming and evaluating (SeqlabCLI) and the fit checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from seqlab.cli import main
from seqlab.data import CharTokenizer
from seqlab.engine.checkpoints import CheckpointError
from seqlab.engine.compatibility import fold_legacy_hparams
from seqlab.inference.loader import load_task
from seqlab.nn import AcousticConfig, RecurrentLMConfig
from seqlab.tasks import GenerationTask, SpeechRecognitionTask

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generation" / "char_lstm.yaml"
NET = RecurrentLMConfig(cell="gru", embedding_size=4, hidden_size=6, num_layers=1)


def old_checkpoint(path: Path, **hparams: object) -> GenerationTask:
    """A GenerationTask checkpoint as seqlab wrote it before ``net`` existed (hparams written by hand in
    that layout, as LightningCLI saved them); returns the task whose weights it holds."""
    tokenizer = CharTokenizer().fit(["def main():\n    return 1\n"])
    torch.manual_seed(0)
    task = GenerationTask(tokenizer.vocab_size, NET)
    flat = {
        "_class_path": "seqlab.tasks.GenerationTask",
        "vocab_size": tokenizer.vocab_size,
        **vars(NET),
        "tbptt_steps": None,
        "tbptt_backprop_steps": None,
        "gradient_clip_norm": 1.0,
        "max_nonfinite_steps": 20,
        "_instantiator": "lightning.pytorch.cli.instantiate_module",
    }
    checkpoint = {
        "state_dict": task.state_dict(),
        "hyper_parameters": {**flat, **hparams},
        "seqlab": {"task_class": "seqlab.tasks.generation.GenerationTask", "nonfinite_skipped": 0},
        "LanguageModelData": {"tokenizer": tokenizer.state_dict()},
    }
    torch.save(checkpoint, path)
    return task


def test_old_flat_checkpoint_loads_for_generate(tmp_path, capsys):
    path = tmp_path / "old.ckpt"
    trained = old_checkpoint(path)
    task, _ = load_task(path, verb="generate")
    assert task.hparams["net"] == vars(NET) and "hidden_size" not in task.hparams
    for name, value in trained.state_dict().items():
        torch.testing.assert_close(task.state_dict()[name], value)
    main(["generate", "--ckpt_path", str(path), "--prompt", "def", "--max_new_tokens", "5", "--seed", "1"])
    assert capsys.readouterr().out.startswith("def")


def test_hparams_hold_net_as_a_plain_dict(tmp_path):
    """weights_only checkpoints cannot hold a dataclass: hparams keep net as a dict, which the task
    takes back."""
    task = GenerationTask(11, NET)
    assert task.hparams["net"] == vars(NET) and task.hparams_initial["net"] == vars(NET)
    torch.save({"hyper_parameters": dict(task.hparams)}, tmp_path / "h.ckpt")
    hparams = torch.load(tmp_path / "h.ckpt", weights_only=True)["hyper_parameters"]
    assert GenerationTask(**hparams).model.rnn.hidden_size == NET.hidden_size


def test_a_key_that_fits_no_version_is_named(tmp_path):
    path = tmp_path / "odd.ckpt"
    old_checkpoint(path, hiden_size=3)
    with pytest.raises(CheckpointError, match="hiden_size"):
        load_task(path, verb="generate")


def test_renamed_flat_keys_fold_too():
    """SpeechRecognitionTask's old ``layers`` is ``net.num_layers`` now; task settings stay where they are."""
    old = {"vocab_size": 30, "num_features": 80, "hidden_size": 8, "layers": 2, "eval_beam_size": 4}
    folded = fold_legacy_hparams(old, SpeechRecognitionTask)
    assert folded == {
        "vocab_size": 30,
        "num_features": 80,
        "eval_beam_size": 4,
        "net": {"hidden_size": 8, "num_layers": 2},
    }
    task = SpeechRecognitionTask(**folded)
    assert task.hparams["net"] == vars(AcousticConfig(hidden_size=8, num_layers=2))
    assert fold_legacy_hparams(task.hparams, SpeechRecognitionTask) == dict(task.hparams)  # today's layout


def test_old_flat_checkpoint_validates_with_its_own_architecture(tiny_fit_args):
    """``seqlab validate --ckpt_path`` (the resume path too) takes an old checkpoint's flat architecture
    keys as its ``net``: hidden_size 32 from the checkpoint, not the config file's 512."""
    main(["fit", "--config", str(CONFIG), *tiny_fit_args])
    run = Path("runs/char_lstm/version_0")
    last = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    checkpoint["hyper_parameters"] = {k: v for k, v in hparams.items() if k != "net"} | hparams["net"]
    torch.save(checkpoint, last)
    args = [a for a in tiny_fit_args if not a.startswith("--model.")]
    main(["validate", "--config", str(CONFIG), *args, "--ckpt_path", str(last)])
    validated = yaml.safe_load((run / "evals/validate-0/config.yaml").read_text())["model"]["init_args"]
    assert validated["net"]["hidden_size"] == 32 and "hidden_size" not in validated
