"""End-to-end: `seqlab generate` samples from a checkpoint written by a real (tiny) fit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqlab.cli import main

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
PROMPT, NEW = "def ", 50
_trained: dict[str, Path] = {}


@pytest.fixture
def run(tiny_fit_args) -> Path:
    """Absolute path of a trained char_lstm run directory (trained once per module, in the isolated
    directory of the first test that needs it; its files outlive that test)."""
    if "run" not in _trained:
        main(["fit", "--config", str(CONFIG), *tiny_fit_args])
        _trained["run"] = Path("runs/char_lstm/version_0").resolve()
    return _trained["run"]


def generate(capsys, *args: str) -> str:
    """stdout of `seqlab generate ...`."""
    capsys.readouterr()
    main(["generate", "--prompt", PROMPT, "--max_new_tokens", str(NEW), *args])
    return capsys.readouterr().out


def single(out: str) -> str:
    """The one sample printed (print adds one newline; the text itself may end in whitespace)."""
    assert out.endswith("\n")
    return out[:-1]


def test_greedy_generation_from_file_run_dir_and_last(run, capsys):
    """Temperature 0 prints the prompt plus exactly 50 characters, the same on every call; a run
    directory means its best.ckpt and `last --run_name` its newest last.ckpt."""
    last = run / "checkpoints" / "last.ckpt"
    text = single(generate(capsys, "--ckpt_path", str(last), "--temperature", "0"))
    assert text.startswith(PROMPT)
    assert len(text) == len(PROMPT) + NEW
    assert single(generate(capsys, "--ckpt_path", str(last), "--temperature", "0")) == text

    root = str(run.parent.parent)
    by_name = generate(
        capsys, "--ckpt_path", "last", "--run_name", "char_lstm", "--root_dir", root, "--temperature", "0"
    )
    assert single(by_name) == text

    best = generate(capsys, "--ckpt_path", str(run / "checkpoints" / "best.ckpt"), "--temperature", "0")
    assert generate(capsys, "--ckpt_path", str(run), "--temperature", "0") == best


def test_seed_controls_sampling(run, capsys):
    """At temperature 1 the same --seed reproduces a sample and another seed gives a different one."""
    ckpt = str(run / "checkpoints" / "last.ckpt")
    first = single(generate(capsys, "--ckpt_path", ckpt, "--temperature", "1", "--seed", "1"))
    again = single(generate(capsys, "--ckpt_path", ckpt, "--temperature", "1", "--seed", "1"))
    other = single(generate(capsys, "--ckpt_path", ckpt, "--temperature", "1", "--seed", "2"))
    assert first == again
    assert first != other
    assert len(first) == len(other) == len(PROMPT) + NEW


def test_num_samples_prints_each_sample(run, capsys):
    """--num_samples 3 prints three headed samples, each the prompt plus 50 characters, not all equal."""
    out = generate(capsys, "--ckpt_path", str(run), "--temperature", "1", "--seed", "0", "--num_samples", "3")
    headers = re.findall(r"^----- sample (\d+) -----$", out, re.MULTILINE)
    assert headers == ["1", "2", "3"]
    samples = re.split(r"^----- sample \d+ -----\n", out, flags=re.MULTILINE)[1:]
    assert len(samples) == 3
    texts = [single(s) for s in samples]
    assert all(t.startswith(PROMPT) and len(t) == len(PROMPT) + NEW for t in texts)
    assert len(set(texts)) > 1


def test_top_k_and_top_p_filter_sampling(run, capsys):
    """--top_k 1 and a tiny --top_p keep only the most likely token, so sampling at temperature 1
    reproduces greedy decoding; a loose --top_k/--top_p still samples the right length."""
    ckpt = str(run / "checkpoints" / "last.ckpt")
    greedy = generate(capsys, "--ckpt_path", ckpt, "--temperature", "0")
    sampled = ["--ckpt_path", ckpt, "--temperature", "1", "--seed", "3"]
    assert generate(capsys, *sampled, "--top_k", "1") == greedy
    assert generate(capsys, *sampled, "--top_p", "1e-6") == greedy
    loose = single(
        generate(capsys, "--ckpt_path", ckpt, "--temperature", "1", "--top_k", "20", "--top_p", "0.9")
    )
    assert loose.startswith(PROMPT) and len(loose) == len(PROMPT) + NEW


def test_missing_checkpoint_fails_clearly(capsys, tmp_path):
    """A missing file, a directory without checkpoints and an unknown run name each fail with a
    message naming what was not found."""
    with pytest.raises(SystemExit) as missing:
        main(["generate", "--ckpt_path", "nope/model.ckpt", "--prompt", PROMPT])
    assert missing.value.code == 2
    err = capsys.readouterr().err
    assert "seqlab: error:" in err and "nope/model.ckpt" in err and "no such checkpoint" in err

    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(SystemExit) as no_ckpt:
        main(["generate", "--ckpt_path", str(empty), "--prompt", PROMPT])
    assert no_ckpt.value.code == 2
    assert str(empty) in capsys.readouterr().err

    with pytest.raises(SystemExit) as no_run:
        main(["generate", "--ckpt_path", "last", "--run_name", "never_trained", "--prompt", PROMPT])
    assert no_run.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "seqlab: error: --ckpt_path last: no last.ckpt under runs/never_trained/ (--run_name never_trained)"
    )


def test_a_missing_flag_is_one_error_line(capsys):
    """Verbs used without what they need end in one `seqlab: error:` line and exit 2, before any model
    loads (these were bare messages with exit 1; any existing file serves as the checkpoint here)."""
    ckpt = str(CONFIG)
    cases = [
        (
            ["generate"],
            "--ckpt_path: expected a checkpoint file, a run directory or `last` (seqlab generate runs one)",
        ),
        (
            ["generate", "--ckpt_path", "last"],
            "--ckpt_path last needs --run_name NAME (the run whose newest last.ckpt to use)",
        ),
        (
            ["predict", "--ckpt_path", ckpt],
            "--input: expected a file to predict on (or - for standard input)",
        ),
        (
            ["decode", "--ckpt_path", ckpt],
            "--input: expected a file to decode (or - for standard input), or --interactive true",
        ),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert (exit_info.value.code, capsys.readouterr().err.strip()) == (2, f"seqlab: error: {message}")


def test_prompt_the_model_cannot_read(run, capsys):
    """An empty prompt is one line before the model loads (it was a bare exit 1); characters the
    model never saw are named on stderr, once each, and sampling goes on from <unk>."""
    with pytest.raises(SystemExit) as empty:
        main(["generate", "--ckpt_path", "nowhere.ckpt", "--prompt", ""])
    assert empty.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "seqlab: error: --prompt: expected at least one character to continue, got ''"
    )
    main(["generate", "--ckpt_path", str(run), "--prompt", "def ☃(x): ☃", "--max_new_tokens", "5"])
    out, err = capsys.readouterr()
    assert out.startswith("def ☃(x): ☃") and len(out) == len("def ☃(x): ☃") + 5 + 1
    assert "seqlab generate: 2 prompt tokens are unknown to the model and read as <unk>: '☃'" in err
