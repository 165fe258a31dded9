"""End-to-end: bad input data stops `seqlab fit` with exit code 2 and a one-line message that names the
file (and where in it) or the split, instead of a traceback."""

from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.engine.run_dir import RUN_DIR_ENV

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


def fit_error(capsys, args: list[str]) -> str:
    """Run a fit that must fail on its input; return its one `seqlab: error:` line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIG), *args])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, lines
    return lines[0]


def with_split(tiny_fit_args: list[str], split: str, path: Path) -> list[str]:
    return [*tiny_fit_args, f"--data.corpus.{split}={path}"]


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_missing_corpus_file(tiny_fit_args, capsys, tmp_path, split):
    """A corpus file that does not exist is named in the error, whichever split it is for."""
    missing = tmp_path / f"no_such_{split}.txt"
    line = fit_error(capsys, with_split(tiny_fit_args, split, missing))
    assert str(missing) in line
    assert "no such file" in line


def test_empty_corpus_file(tiny_fit_args, capsys, tmp_path):
    """An empty (whitespace-only) file is refused by name."""
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    line = fit_error(capsys, with_split(tiny_fit_args, "validation", empty))
    assert str(empty) in line
    assert "empty" in line


def test_non_utf8_corpus_file(tiny_fit_args, capsys, tmp_path):
    """A file with a non-UTF-8 byte is refused with its name, byte offset, line and column."""
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("first line\nna\u00efve".encode("latin-1"))  # 0xEF at offset 13, line 2, column 3
    line = fit_error(capsys, with_split(tiny_fit_args, "train", bad))
    assert str(bad) in line
    assert "byte offset 13" in line
    assert "line 2, column 3" in line


def test_non_utf8_console_script_exit_code(tiny_fit_args, tmp_path):
    """The installed `seqlab` command exits with status 2 and no traceback on a non-UTF-8 file."""
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x = 1\n\xff\xfe\n")
    seqlab = Path(sys.executable).parent / "seqlab"
    env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV}
    result = subprocess.run(
        [str(seqlab), "fit", "--config", str(CONFIG), *with_split(tiny_fit_args, "test", bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"seqlab: error: {bad}: not valid UTF-8")
    assert "byte offset 6" in result.stderr


def test_batch_too_large_for_validation_split(tiny_fit_args, capsys, tmp_path, caplog):
    """More validation streams than the validation split has tokens evaluates on fewer streams, and says
    so (issue 15: a one-line file works); it used to be an error."""
    tiny = tmp_path / "tiny_validation.txt"
    tiny.write_text("def f():\n    return 1\n")  # 22 characters
    args = [*with_split(tiny_fit_args, "validation", tiny), "--data.eval_batch_size=64"]
    with caplog.at_level("INFO", logger="lightning.pytorch.utilities.rank_zero"):
        main(["fit", "--config", str(CONFIG), *args])
    note = "the validation split has 22 tokens, too few for 64 streams of at least one token: using 21"
    assert note in [r.getMessage() for r in caplog.records]


def test_batch_too_large_for_training_split(tiny_fit_args, capsys, tmp_path):
    """A training split from which no token can be predicted is a DataError naming the split."""
    tiny = tmp_path / "tiny_train.txt"
    tiny.write_text("i")
    line = fit_error(capsys, [*with_split(tiny_fit_args, "train", tiny), "--data.batch_size=32"])
    assert "the train split has 1 token, too few to predict any" in line


def test_seq_len_longer_than_validation_split_still_evaluates(tiny_fit_args, tmp_path):
    """A window longer than a (small) validation stream is not an error: validation runs on the one
    shorter window and logs a finite val/loss."""
    small = tmp_path / "small_validation.txt"
    small.write_text("def f(x):\n    return x + 1\n" * 3)  # 84 characters: 4 streams of 20 tokens
    args = [*with_split(tiny_fit_args, "validation", small), "--data.seq_len=64"]
    main(["fit", "--config", str(CONFIG), *args])
    with open("runs/char_lstm/version_0/metrics.csv", newline="") as file:
        losses = [float(r["val/loss"]) for r in csv.DictReader(file) if r.get("val/loss")]
    assert losses and all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--model.init_args.net.hidden_size=0", "model.net.hidden_size: expected a whole number >= 1, got 0"),
        ("--model.init_args.net.num_layers=-1", "model.net.num_layers: expected a whole number >= 1, got -1"),
        ("--model.init_args.net.dropout=1.0", r"model.net.dropout: expected a share in \[0, 1\), got 1.0"),
        # torch's optimizers refuse these with a ValueError (was a traceback from configure_optimizers)
        ("--model.init_args.optimizer.init_args.lr=-1", r"model.optimizer: Invalid learning rate: -1.0"),
        ("--model.init_args.optimizer.init_args.betas=[0.9,1.5]", r"model.optimizer: Invalid beta parameter"),
        # a negative clip norm flipped every gradient's sign and trained uphill, in silence
        (
            "--model.init_args.gradient_clip_norm=-1",
            r"model.gradient_clip_norm: expected a number above 0 or null",
        ),
    ],
)
def test_impossible_net_settings_are_one_line(tiny_fit_args, capsys, flag, message):
    """A size, depth, dropout or optimizer setting no model can be trained with is named by its key,
    not shown as jsonargparse's dump of the whole model namespace or torch's traceback."""
    line = fit_error(capsys, [*tiny_fit_args, flag])
    assert re.search(message, line), line


@pytest.mark.parametrize(
    "flag", ["--trainer.max_epochs=0", "--trainer.max_steps=0", "--trainer.limit_train_batches=0"]
)
def test_a_fit_with_nothing_to_train_is_refused_before_any_run_is_made(tiny_fit_args, capsys, tmp_path, flag):
    """Each of these made Lightning stop at once with exit status 0, no checkpoint and a run
    directory that looked finished; now one line names the flag and no run directory is made."""
    root = tmp_path / "nothing"
    line = fit_error(capsys, [*tiny_fit_args, flag, f"--run.root_dir={root}"])
    assert f"{flag.replace('=', ' ')}: a fit would train nothing; expected" in line
    assert not root.exists()


def test_a_model_constructor_refusal_behind_jsonargparse_is_one_line():
    """Errors that seqlab's models raise for settings they cannot build (NetSettingError, a
    ValueError) are found behind the wrapper jsonargparse raises while instantiating."""
    from seqlab.engine.user_errors import user_error
    from seqlab.nn.errors import NetSettingError

    try:
        try:
            raise NetSettingError("subsampling_factor must be 1 without subsampling, got 2")
        except NetSettingError as inner:
            raise ValueError("Does not validate against any of the Union subtypes") from inner
    except ValueError as outer:
        assert isinstance(user_error(outer), NetSettingError)
    assert user_error(ValueError("a bug, not a setting")) is None


@pytest.mark.skipif(torch.cuda.device_count() > 0, reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("verb", ["fit", "test"])
def test_a_gpu_accelerator_without_a_gpu_is_one_line_before_data(tiny_fit_args, capsys, tmp_path, verb):
    """`--trainer.accelerator gpu` on a CPU-only machine said Lightning's "No supported gpu backend
    found!" after the data was prepared; now it names the flag and torch build first (CI's machines have
    no GPU, so this runs there)."""
    root = tmp_path / "runs"
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(
            [
                verb,
                "--config",
                str(CONFIG),
                *tiny_fit_args,
                "--trainer.accelerator=gpu",
                f"--run.root_dir={tmp_path}",
            ]
        )
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "--trainer.accelerator gpu: torch sees no GPU here" in err
    assert "data:" not in err and not root.exists()
    with pytest.raises(SystemExit) as printed:  # printing a GPU run's settings works on any machine
        main([verb, "--config", str(CONFIG), "--trainer.accelerator=gpu", "--print_config"])
    assert printed.value.code == 0 and "accelerator: gpu" in capsys.readouterr().out
