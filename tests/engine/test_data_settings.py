"""Out-of-range data settings and misspelt keys end in one line naming the key (issue 17): a negative
batch size used to end in a ValueError traceback from the LM streams, and building an experiment for
tune/diagnose reported misspelt keys in jsonargparse's wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.engine.build import ConfigError, build_from_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _error_of(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """The stderr of ``seqlab fit ARGS``, which must exit 2 with no traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(["fit", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("config", "flag", "value", "expected"),
    [
        ("generation/char_lstm.yaml", "batch_size", "-3", "a positive whole number"),
        ("generation/char_lstm.yaml", "seq_len", "0", "a positive whole number"),
        ("classification/tsv_word_bigru_attention.yaml", "num_workers", "-1", "a whole number >= 0"),
        ("labelling/stress_bilstm.yaml", "eval_batch_size", "0", "a positive whole number or null"),
        (
            "transduction/g2p_bilstm_attention.yaml",
            "max_source_length",
            "-1",
            "a positive whole number or null",
        ),
        ("transduction/speech_ctc_bilstm.yaml", "frame_shift_ms", "-2", "a number above 0"),
    ],
)
def test_out_of_range_data_setting_is_one_line(
    config: str, flag: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: each task family's config with a value of the right type but out of range."""
    err = _error_of(capsys, ["--config", str(CONFIGS / config), f"--data.{flag}", value])
    assert err.strip() == f"seqlab: error: --data.{flag} {value}: expected {expected}", err


def test_out_of_range_value_in_a_config_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: ``batch_size: 0`` written in a YAML rather than on the command line."""
    extra = tmp_path / "zero.yaml"
    extra.write_text("data:\n  init_args:\n    batch_size: 0\n", encoding="utf-8")
    config = CONFIGS / "generation" / "char_lstm.yaml"
    err = _error_of(capsys, ["--config", str(config), "--config", str(extra)])
    assert err.strip() == f"seqlab: error: {extra}: data.batch_size 0: expected a positive whole number"


def test_build_names_a_misspelt_key_and_the_nearest_valid_one() -> None:
    """Tried: building (as tune and diagnose do) with ``--model.net.hiden_size``."""
    config = CONFIGS / "generation" / "char_lstm.yaml"
    with pytest.raises(ConfigError) as info:
        build_from_config(config, ["--model.net.hiden_size=8"])
    message = str(info.value)
    assert "\n" not in message
    assert "unknown key --model.net.hiden_size; did you mean --model.net.hidden_size?" in message


def test_build_names_an_out_of_range_data_setting() -> None:
    """Tried: building with ``--data.batch_size=-3``."""
    config = CONFIGS / "generation" / "char_lstm.yaml"
    with pytest.raises(ConfigError) as info:
        build_from_config(config, ["--data.batch_size=-3"])
    assert str(info.value) == "--data.batch_size -3: expected a positive whole number"


def test_misspelt_key_of_a_data_source_names_its_section(capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: ``--data.source.fractionz`` (the langid source's ``fractions``): it used to be reported as
    ``unknown key data.fractionz`` with no suggestion, the ``source`` section lost."""
    config = CONFIGS / "classification" / "langid_char_bilstm.yaml"
    err = _error_of(capsys, ["--config", str(config), "--data.source.fractionz", "[0.8,0.1,0.1]"])
    assert "unknown key --data.source.fractionz; did you mean --data.source.fractions?" in err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--trainer.max_steps", "-5"], "trainer settings: `max_steps` must be a non-negative integer"),
        (["--trainer.val_check_interval", "0"], "--trainer.val_check_interval 0: expected a whole number"),
        (
            ["--trainer.accumulate_grad_batches", "2"],
            "--trainer.accumulate_grad_batches 2: GenerationTask steps",
        ),
    ],
)
def test_trainer_settings_out_of_range(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: settings that used to end in a MisconfigurationException or (val_check_interval 0) a
    ZeroDivisionError traceback once training started."""
    err = _error_of(capsys, ["--config", str(CONFIGS / "generation" / "char_lstm.yaml"), *flags])
    assert err.startswith(f"seqlab: error: {expected}") and err.count("\n") == 1, err


def test_missing_required_key_of_a_data_source(capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: SpeechManifests without its required ``train`` (``validation`` may be left out: it is
    then held out of train): it used to print a Namespace repr."""
    config = CONFIGS / "transduction" / "speech_ctc_bilstm.yaml"
    flags = ["--data.source", "seqlab.data.SpeechManifests", "--data.source.validation", "dev.jsonl"]
    err = _error_of(capsys, ["--config", str(config), *flags])
    assert err.startswith("seqlab: error: data.source.train: required, not given"), err


def test_sentencepiece_vocab_size_out_of_range_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: ``vocab_size`` 0 (sentencepiece used to stop with ``INTERNAL: ... vocab_size() > 0``)
    and 100, fewer than byte fallback needs, on a two-line training file."""
    text = tmp_path / "a.txt"
    text.write_text("hello world\nfoo bar\n", encoding="utf-8")
    config = CONFIGS / "transduction" / "translation_spm_bigru_luong.yaml"
    files = [f"--data.source.train=[{text},{text}]", f"--data.source.validation=[{text},{text}]"]
    for size, expected in (("0", "a positive whole number of pieces"), ("100", "at least 269")):
        err = _error_of(capsys, ["--config", str(config), *files, "--data.source_tokenizer.vocab_size", size])
        assert err.startswith(
            f"seqlab: error: --data.source_tokenizer.vocab_size {size}: expected {expected}"
        )
        assert err.strip().endswith(f"fitted on the training file {text} + {text}") and "INTERNAL" not in err


@pytest.mark.parametrize(
    ("config", "flag", "files"),
    [
        ("classification/tsv_word_bigru_attention.yaml", "tokenizer.min_freq", "tsv"),
        ("labelling/conll_ner_charbilstm_crf.yaml", "words.min_freq", "conll"),
        ("labelling/conll_ner_charbilstm_crf.yaml", "char_min_freq", "conll"),
    ],
)
def test_min_freq_that_leaves_nothing_names_the_key_and_the_file(
    config: str, flag: str, files: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: a ``min_freq`` of 1000 on a tiny training file, where no word (or character) is that
    frequent: the line names the key, the most a word occurs, and the training file."""
    paths = request.getfixturevalue(f"tiny_{files}")
    sources = [f"--data.source.{split}={path}" for split, path in paths.items()]
    err = _error_of(capsys, ["--config", str(CONFIGS / config), *sources, f"--data.{flag}", "1000"])
    assert err.startswith(f"seqlab: error: --data.{flag} 1000: expected at most "), err
    assert err.strip().endswith(f"fitted on the training file {paths['train']}"), err
