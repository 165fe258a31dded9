"""Configs that work on any data size (issue 15): a file smaller than one validation interval, a file of
one line, and learning-rate schedules sized from the run's real number of optimizer steps.

The demo config pointed at a small text file used to stop at once with Lightning's
``val_check_interval (300) must be less than or equal to the number of the training batches``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from seqlab.cli import main
from seqlab.engine.schedules import WarmupCosine
from seqlab.engine.training_cli import run_training

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
QUIET += ["--run.wandb.mode=disabled"]


class Record(L.Callback):
    """The global step of every validation and the learning rate of every training batch."""

    def __init__(self) -> None:
        self.validations: list[int] = []
        self.lrs: list[float] = []

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validations.append(trainer.global_step)

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _text_args(train: str, validation: str) -> list[str]:
    return [
        "--data.corpus=seqlab.data.TextFiles",
        f"--data.corpus.train={train}",
        f"--data.corpus.validation={validation}",
    ]


def test_validation_interval_counts_batches_across_epochs(tiny_corpus: dict[str, Path]) -> None:
    """Tried: the demo's validation every 300 batches on a file of 5 batches per epoch (batch 4 x 16
    tokens over ~40k characters is ~600; cut to 320 characters: 5 batches), 12 steps, validation every 4
    batches. It used to stop with Lightning's val_check_interval error; now it validates at steps 4, 8
    and 12, across epoch ends."""
    train = _write(Path("train.txt"), tiny_corpus["train"].read_text()[:321])
    args = ["fit", "--config", str(CONFIGS / "generation" / "char_lstm.yaml")]
    args += [*_text_args(train, str(tiny_corpus["validation"])), *QUIET]
    args += ["--data.batch_size=4", "--data.seq_len=16", "--model.net.hidden_size=16"]
    args += ["--trainer.max_steps=12", "--trainer.limit_val_batches=1"]
    seen = Record()
    # The config's own interval (300) is far above the 5 batches of an epoch; 4 is too, across epochs.
    cli = run_training([*args, "--trainer.val_check_interval=4"], callbacks=[seen])
    assert cli.trainer.num_training_batches == 5
    assert seen.validations == [4, 8, 12]


def test_the_demo_interval_on_a_small_file(tiny_corpus: dict[str, Path]) -> None:
    """Tried: the demo's own val_check_interval (300) on a file of a few batches: it trains, and the
    final validation (engine.callbacks.FinalValidation) evaluates the weights it ends with."""
    args = ["fit", "--config", str(CONFIGS / "generation" / "char_lstm.yaml")]
    args += [*_text_args(str(tiny_corpus["train"]), str(tiny_corpus["validation"])), *QUIET]
    args += ["--data.seq_len=32", "--model.net.hidden_size=16", "--trainer.max_steps=15"]
    args += ["--trainer.limit_val_batches=1"]
    seen = Record()
    cli = run_training(args, callbacks=[seen])
    assert cli.trainer.num_training_batches < 300
    assert cli.trainer.global_step == 15
    assert seen.validations == [15]


def test_language_model_on_a_one_line_file(capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: a one-line file of 10 characters with the demo's 32 streams: too few tokens for 32
    streams, so the split uses 9 (one token each) and says so, rather than refusing."""
    line = _write(Path("line.txt"), "CHAPTER I\n")
    args = ["fit", "--config", str(CONFIGS / "generation" / "char_lstm.yaml"), *_text_args(line, line)]
    cli = run_training([*args, *QUIET, "--model.net.hidden_size=16", "--trainer.max_steps=3"])
    assert cli.trainer.global_step == 3
    assert cli.datamodule.windows["train"].inputs.shape == (9, 1)


def test_language_model_on_one_character_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: a file holding one character, from which nothing can be predicted."""
    line = _write(Path("one.txt"), "A")
    args = ["fit", "--config", str(CONFIGS / "generation" / "char_lstm.yaml"), *_text_args(line, line)]
    with pytest.raises(SystemExit) as exit_:
        main([*args, *QUIET, "--model.net.hidden_size=16", "--trainer.max_steps=3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "seqlab: error: the train split has 1 token, too few to predict any" in err


@pytest.mark.parametrize(
    ("config", "files"),
    [
        ("labelling/conll_ner_charbilstm_crf.yaml", {"conll": "Ada NNP B-PER\nmet VBD O\nParis NNP B-LOC\n"}),
        (
            "transduction/translation_spm_bigru_luong.yaml",
            {"src": "the cat sat\n", "tgt": "die katze sass\n"},
        ),
    ],
)
def test_supervised_configs_on_a_one_line_file(config: str, files: dict[str, str]) -> None:
    """Tried: a labelling and a transduction config (sentencepiece vocabulary of 8000 asked for) on
    train and validation files of one example each, for 3 steps."""
    paths = {ext: _write(Path(f"one.{ext}"), text) for ext, text in files.items()}
    if "conll" in paths:
        source = [f"--data.source.train={paths['conll']}", f"--data.source.validation={paths['conll']}"]
    else:
        pair = f"[{paths['src']},{paths['tgt']}]"
        source = [f"--data.source.train={pair}", f"--data.source.validation={pair}"]
    args = ["fit", "--config", str(CONFIGS / config), *source, *QUIET]
    cli = run_training([*args, "--model.net.hidden_size=16", "--trainer.max_steps=3"])
    assert cli.trainer.global_step == 3


def test_classification_on_a_one_line_file_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: the TSV classification config (words kept if seen twice) on a one-row file: no word is
    seen twice, so there is no vocabulary to train: one error line, no traceback."""
    tsv = _write(Path("one.tsv"), "sentence\tlabel\nthe cat is here\tanimal\n")
    args = ["fit", "--config", str(CONFIGS / "classification" / "tsv_word_bigru_attention.yaml")]
    with pytest.raises(SystemExit) as exit_:
        main([*args, f"--data.source.train={tsv}", f"--data.source.validation={tsv}", *QUIET])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "data.tokenizer.min_freq 2: expected at most 1: no training word occurs 2 times" in err
    assert "fitted on the training file one.tsv" in err


def test_warmup_cosine_is_sized_from_the_run(tiny_fit_args: list[str]) -> None:
    """Tried: WarmupCosine without total_steps, 8 steps of a language model (manual optimization steps
    the schedule itself): 2 warm-up steps (a quarter) rising, then decay to near 0 at the last step."""
    seen = Record()
    args = ["fit", "--config", str(CONFIGS / "generation" / "char_lstm.yaml"), *tiny_fit_args]
    args += ["--model.lr_scheduler=seqlab.engine.schedules.WarmupCosine"]
    args += ["--model.lr_scheduler.warmup_fraction=0.25", "--trainer.max_steps=8"]
    cli = run_training(args, callbacks=[seen])
    (config,) = cli.trainer.lr_scheduler_configs
    assert isinstance(config.scheduler, WarmupCosine) and config.scheduler.total_steps == 8
    base = 0.003
    assert seen.lrs[0] == pytest.approx(base / 3) and seen.lrs[1] == pytest.approx(base * 2 / 3)
    assert seen.lrs[2] == pytest.approx(base)
    assert all(a > b for a, b in zip(seen.lrs[2:], seen.lrs[3:], strict=False))
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_warmup_cosine_shape() -> None:
    """Tried: 100 steps, 10% warm-up, ending at 0.1 x lr: rises to 1 at step 10, halfway down at 55."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = WarmupCosine(optimizer, warmup_fraction=0.1, total_steps=100, min_lr_ratio=0.1)
    assert schedule.factor(0) == pytest.approx(1 / 11)
    assert schedule.factor(10) == pytest.approx(1.0)
    assert schedule.factor(55) == pytest.approx(0.55)
    assert schedule.factor(100) == pytest.approx(0.1) and schedule.factor(500) == pytest.approx(0.1)
