"""Every command that reads a checkpoint (fit/validate/test --ckpt_path, generate, predict, decode,
transcribe, diagnose) answers a truncated, empty or non-checkpoint file, and a checkpoint of a kind it
does not run, with one line naming the file and what is wrong, and exit code 2: no traceback, and
never the advice to load with ``weights_only=False`` (which would run whatever code the file holds)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.engine.checkpoints import checkpoint_data_state, read_checkpoint
from tests.data.speech_helpers import write_wav
from tests.reliability.trained_checkpoints import LM_CONFIG, QUIET, lm_data_args, trained_checkpoints

UNREADABLE = "{} is not a readable seqlab checkpoint (truncated or not a checkpoint)"
INFERENCE_VERBS = ["generate", "predict", "decode", "transcribe", "diagnose"]
TRAINING_VERBS = ["fit", "validate", "test"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return trained_checkpoints(tmp_path_factory)


def broken_file(kind: str, trained: dict[str, Path]) -> Path:
    """A ``.ckpt`` file in the working directory that no command can read."""
    path = Path(f"{kind}.ckpt")
    if kind == "truncated":  # what a copy killed half-way leaves
        data = trained["language_model"].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("step,loss\n1,2.5\n", encoding="utf-8")
    return path


def command(verb: str, ckpt: Path) -> list[str]:
    """A ``seqlab VERB`` command line that is fine apart from its checkpoint."""
    if verb == "generate":
        return ["generate", "--ckpt_path", str(ckpt), "--max_new_tokens", "5"]
    if verb in ("predict", "decode"):
        Path("input.txt").write_text("a joy to watch\ncat\n", encoding="utf-8")
        return [verb, "--ckpt_path", str(ckpt), "--input", "input.txt"]
    if verb == "transcribe":
        return ["transcribe", "--ckpt_path", str(ckpt), "--input", str(write_wav(Path("a.wav"), 0.3))]
    data = lm_data_args(Path.cwd())
    if verb == "diagnose":
        return ["diagnose", "gradients", "--config", str(LM_CONFIG), "--ckpt_path", str(ckpt), *data]
    return [verb, "--config", str(LM_CONFIG), "--ckpt_path", str(ckpt), *data, *QUIET]


def error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """The one error line of a command that must stop with exit code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "weights_only" not in err
    lines = [line for line in err.splitlines() if line.startswith("seqlab") and ": error: " in line]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def prefix(verb: str) -> str:
    return "seqlab: error: " if verb in TRAINING_VERBS else f"seqlab {verb}: error: "


@pytest.mark.parametrize("kind", ["truncated", "empty", "text"])
@pytest.mark.parametrize("verb", INFERENCE_VERBS + TRAINING_VERBS)
def test_unreadable_checkpoint(trained, capsys, verb, kind):
    """Half a real checkpoint, an empty file and a text file: torch's EOFError, zip "central
    directory" error or KeyError becomes one line that says what the file is not."""
    bad = broken_file(kind, trained)
    assert error_line(capsys, command(verb, bad)) == prefix(verb) + UNREADABLE.format(bad)


WRONG_KIND = [
    ("generate", "classifier", "ClassificationTask (classification); use seqlab predict for it"),
    ("generate", "encoder_decoder", "TransductionTask (encoder-decoder); use seqlab decode for it"),
    ("predict", "language_model", "GenerationTask (language model); use seqlab generate for it"),
    ("decode", "speech", "SpeechRecognitionTask (speech recognition); use seqlab transcribe for it"),
    ("decode", "classifier", "ClassificationTask (classification); use seqlab predict for it"),
    ("transcribe", "language_model", "GenerationTask (language model); use seqlab generate for it"),
    ("transcribe", "encoder_decoder", "TransductionTask (encoder-decoder); use seqlab decode for it"),
]


@pytest.mark.parametrize(("verb", "kind", "said"), WRONG_KIND)
def test_checkpoint_of_another_kind_names_the_verb_that_runs_it(trained, capsys, verb, kind, said):
    """A real checkpoint given to a verb that does not run its task (today: AttributeErrors, "unknown
    tokenizer state type", or a speech model "transcribing" text) says what it holds and which verb
    fits it."""
    ckpt = trained[kind]
    assert error_line(capsys, command(verb, ckpt)) == f"seqlab {verb}: error: {ckpt} holds a {said}"


@pytest.mark.parametrize("verb", ["diagnose", "validate"])
def test_checkpoint_of_another_kind_for_a_language_model_config(trained, capsys, verb):
    """A classifier's checkpoint with a language model's config: one line naming both task classes
    (diagnose today: a state_dict "Missing key(s)" traceback)."""
    ckpt = trained["classifier"]
    line = error_line(capsys, command(verb, ckpt))
    assert line.startswith(
        f"seqlab: error: {ckpt} was trained by seqlab.tasks.classification.ClassificationTask"
    )
    assert "GenerationTask" in line


def test_vocabulary_of_another_size(trained, capsys):
    """A language model whose saved tokenizer is not the one it was trained with (here: the
    classifier's word vocabulary) is refused before it samples ids the tokenizer cannot decode."""
    checkpoint = read_checkpoint(trained["language_model"])
    words = checkpoint_data_state(read_checkpoint(trained["classifier"]))["tokenizer"]
    checkpoint_data_state(checkpoint)["tokenizer"] = words
    mixed = Path("mixed.ckpt")
    torch.save(checkpoint, mixed)
    model_size = checkpoint["hyper_parameters"]["vocab_size"]
    assert model_size != len(words["vocab"])
    assert error_line(capsys, command("generate", mixed)) == (
        f"seqlab generate: error: {mixed} is inconsistent: its GenerationTask has a vocabulary of "
        f"{model_size} tokens, its tokenizer one of {len(words['vocab'])}"
    )


def test_weights_of_another_shape(trained, capsys):
    """A classifier whose recorded labels are not the ones its output layer was trained for: the
    state_dict size mismatch is reported on one line, not as a traceback."""
    checkpoint = read_checkpoint(trained["classifier"])
    checkpoint["hyper_parameters"]["labels"] = [*checkpoint["hyper_parameters"]["labels"], "extra"]
    torch.save(checkpoint, "relabelled.ckpt")
    line = error_line(capsys, command("predict", Path("relabelled.ckpt")))
    assert line.startswith(
        "seqlab predict: error: relabelled.ckpt does not fit seqlab's ClassificationTask (another seqlab "
        "version, or a damaged file): Error(s) in loading state_dict for ClassificationTask: size mismatch"
    )


def test_torch_files_that_are_not_seqlab_checkpoints(capsys):
    """A tensor, a dictionary without seqlab's record, and a full pickle whose objects a safe load
    refuses (torch advises `weights_only=False` for it) each get a plain statement."""
    torch.save(torch.zeros(3), "tensor.pt")
    assert error_line(capsys, command("generate", Path("tensor.pt"))) == (
        "seqlab generate: error: " + UNREADABLE.format("tensor.pt")
    )
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, "other.ckpt")
    assert error_line(capsys, command("predict", Path("other.ckpt"))) == (
        "seqlab predict: error: other.ckpt is not a seqlab checkpoint: it records no task class"
    )
    torch.save({"state_dict": {}, "saved": datetime.date(2024, 1, 1)}, "pickled.ckpt")
    assert error_line(capsys, command("decode", Path("pickled.ckpt"))) == (
        "seqlab decode: error: " + UNREADABLE.format("pickled.ckpt")
    )


def test_truncated_checkpoint_through_the_installed_command(trained, tmp_path):
    """`seqlab validate --ckpt_path` on a truncated last.ckpt, as a real process: Lightning's own read
    never happens, the last line is the message, the exit status 2."""
    bad = broken_file("truncated", trained)
    seqlab = Path(sys.executable).parent / "seqlab"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQLAB_RUN")}
    result = subprocess.run(
        [str(seqlab), *command("validate", bad)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "weights_only" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "seqlab: error: " + UNREADABLE.format(bad)
    assert not (tmp_path / "runs").exists()  # nothing was recorded for a run that could not start
