"""A misspelt key or a bad value for `seqlab fit` is one `seqlab: error:` line that names the key (and
the nearest valid one, or the value and what was expected), without jsonargparse's usage block.

Before: ~60 lines of `[--trainer.xxx]` usage, then `Parser key "model": Does not validate against any
of the Union subtypes ...`; and `--trainer.max_step 5` silently ran as argparse's abbreviation of
`--trainer.max_steps`."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generation" / "char_lstm.yaml"


def fit_error(capsys, args: list[str]) -> str:
    """The one line a fit that must not parse prints; nothing else (no usage block)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIG), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" not in err and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("given", "nearest"),
    [
        ("--model.net.hiden_size", "--model.net.hidden_size"),
        ("--model.init_args.net.hiden_size", "--model.net.hidden_size"),
        ("--trainer.max_step", "--trainer.max_steps"),
        ("--data.batch_sise", "--data.batch_size"),
        ("--run.nam", "--run.name"),
    ],
)
def test_misspelt_key_on_the_command_line(capsys, given, nearest):
    line = fit_error(capsys, [given, "3"])
    assert f"unknown key {given.replace('init_args.', '')}" in line
    assert f"did you mean {nearest}?" in line


def test_misspelt_keys_in_a_config_file(capsys, tmp_path):
    """The same misspellings in a YAML name the file and the key as the YAML writes it."""
    trainer = tmp_path / "trainer.yaml"
    trainer.write_text("trainer:\n  max_step: 5\n")
    line = fit_error(capsys, ["--config", str(trainer)])
    assert f"{trainer}: unknown key trainer.max_step; did you mean trainer.max_steps?" in line
    model = tmp_path / "model.yaml"
    model.write_text("model:\n  init_args:\n    net:\n      hiden_size: 3\n")
    line = fit_error(capsys, ["--config", str(model)])
    assert f"{model}: unknown key model.net.hiden_size; did you mean model.net.hidden_size?" in line
    data = tmp_path / "data.yaml"
    data.write_text("data:\n  init_args:\n    batch_sise: 4\n")
    line = fit_error(capsys, ["--config", str(data)])
    assert f"{data}: unknown key data.batch_sise; did you mean data.batch_size?" in line


@pytest.mark.parametrize("key", ["--trainer.max_steps", "--model.net.hidden_size", "--data.batch_size"])
def test_wrong_type_names_key_value_and_type(capsys, key):
    """Before: `Parser key "model": ... Expected a <class 'int'>. Got value: abc` in a Union error."""
    line = fit_error(capsys, [key, "abc"])
    assert line == f"seqlab: error: {key}: expected int, got 'abc'"


def test_wrong_choice_lists_the_choices(capsys):
    line = fit_error(capsys, ["--trainer.precision", "bf17"])
    assert line.startswith("seqlab: error: --trainer.precision: expected ")
    assert "'bf16-mixed'" in line and line.endswith("got 'bf17'")


def test_wrong_choice_of_a_model_setting(capsys):
    line = fit_error(capsys, ["--model.net.cell", "lstmm"])
    assert line.startswith("seqlab: error: --model.net.cell: expected one of 'rnn_tanh'")
    assert "'lstm'" in line and line.endswith("got 'lstmm'")


def test_wrong_value_in_a_config_file_names_the_file(capsys, tmp_path):
    bad = tmp_path / "steps.yaml"
    bad.write_text("trainer:\n  max_steps: many\n")
    line = fit_error(capsys, ["--config", str(bad)])
    assert line == f"seqlab: error: {bad}: trainer.max_steps: expected int, got 'many'"


def test_class_path_that_does_not_exist(capsys):
    """Before: a Union error that began with "Expected a path but seqlab.tasks.Nope ..."."""
    line = fit_error(capsys, ["--model", "seqlab.tasks.Nope"])
    reason = "module 'seqlab.tasks' has no attribute 'Nope'"
    assert line == f"seqlab: error: --model: {reason}, got 'seqlab.tasks.Nope'"


def test_misspelt_top_level_key(capsys):
    line = fit_error(capsys, ["--ckpt_pat", "last"])
    assert "unknown key --ckpt_pat; did you mean --ckpt_path?" in line


@pytest.mark.parametrize("flag", ["--model.optimizer.lr", "--model.init_args.optimizer.init_args.lr"])
def test_optimizer_setting_without_an_optimizer_class(capsys, flag):
    """A config that keeps the default optimizer (a function: AdamW, lr 0.002) has no class to take
    `lr`. Before: "unknown key model.lr; did you mean model?"; now the flag and what to give first."""
    capsys.readouterr()
    config = CONFIG.parents[1] / "classification" / "tsv_word_bigru_attention.yaml"
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), flag, "0.01"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "seqlab: error: --model.optimizer.lr: no class is chosen for model.optimizer (its default is used "
        "as a whole), so it takes no 'lr'; choose one first: --model.optimizer torch.optim.AdamW "
        "--model.optimizer.lr VALUE (seqlab fit --help lists the keys)"
    ), err


EMA = "--trainer.callbacks+=seqlab.engine.averaging.ExponentialAveraging"


def test_bad_value_of_an_appended_callback_names_its_key(capsys):
    """jsonargparse's Union error also holds the abstract `lightning.Callback`'s "Option 'decay' is not
    accepted", which was read as the unknown key `trainer.callbacks.decay.decay`."""
    line = fit_error(capsys, [EMA, "--trainer.callbacks.decay", "abc"])
    assert line == "seqlab: error: --trainer.callbacks.decay: expected float, got 'abc'"


def test_misspelt_key_of_an_appended_callback_suggests_its_own_key(capsys):
    line = fit_error(capsys, [EMA, "--trainer.callbacks.decy", "0.9"])
    assert "unknown key --trainer.callbacks.decy; did you mean --trainer.callbacks.decay?" in line
