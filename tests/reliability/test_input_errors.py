"""Bad or partial input gives a result or a one-line `seqlab: error:` that names the file and place:
a corpus without a test split, a malformed or missing config file (fit, tune, build_from_config, sweep
files), impossible speech manifest durations; and speech CER/WER score against the real reference."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from seqlab.cli import main
from seqlab.data.errors import DataError
from seqlab.data.formats.speech_manifest import read_manifest
from seqlab.data.modules.speech import SpeechData
from seqlab.data.sources.speech import SpeechManifests
from seqlab.data.sources.text import TextFiles
from seqlab.engine.build import ConfigError, build_from_config
from seqlab.engine.task_data import hand_data
from seqlab.nn import AcousticConfig
from seqlab.tasks.speech import SpeechRecognitionTask
from seqlab.tune.sweep import SweepError, load_sweep
from tests.data.speech_helpers import write_manifest, write_wav

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
SWEEP = REPO / "configs" / "sweeps" / "char_lstm_asha.yaml"

# A YAML syntax error on line 6 (column 15: the second ':' of "max_steps: 3: 4").
BAD_YAML = """model:
  class_path: seqlab.tasks.LanguageModelTask
  init_args:
    hidden_size: 32
trainer:
  max_steps: 3: 4
"""
BAD_YAML_MESSAGE = "bad.yaml, line 6, column 15: mapping values are not allowed here"


def error_lines(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[str]:
    """Run `seqlab ARGV`, which must fail with status 2; return everything it wrote to stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


# a) a corpus without a test split


def test_textfiles_without_test_has_no_test_split(tiny_corpus: dict[str, Path]) -> None:
    """Splits without files are absent, not empty datasets (which broke encoding: KeyError 'ids')."""
    loaded = TextFiles(train=str(tiny_corpus["train"]), validation=str(tiny_corpus["validation"])).load()
    assert sorted(loaded) == ["train", "validation"]


def test_fit_without_test_split_works_and_test_says_there_is_none(
    tiny_fit_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`seqlab fit` trains on train/validation alone; `seqlab test` then names the missing split."""
    args = [a for a in tiny_fit_args if not a.startswith("--data.corpus.test=")]
    args.append("--trainer.precision=32-true")  # CPU bf16 LSTM needs AVX-512 (oneDNN), not on every machine
    main(["fit", "--config", str(CONFIG), *args])
    assert "best checkpoint:" in capsys.readouterr().out
    lines = error_lines(capsys, ["test", "--config", str(CONFIG), *args])
    assert lines == [
        "seqlab: error: the corpus (TextFiles) has no test split, which `seqlab test` needs; "
        "configure one (TextFiles: `data.corpus.test`)"
    ]


# b) malformed and missing config files


def test_malformed_config_names_file_and_line_without_usage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One line naming the file, line and column and YAML's problem; no usage dump, no
    "<unicode string>"."""
    Path("bad.yaml").write_text(BAD_YAML, encoding="utf-8")
    for argv in (
        ["fit", "--config", "bad.yaml"],
        ["validate", "--config=bad.yaml"],
        ["fit", "-c", "bad.yaml"],
    ):
        assert error_lines(capsys, argv) == [f"seqlab: error: {BAD_YAML_MESSAGE}"], argv


def test_unclosed_bracket_reports_where_and_what_was_open(capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.yaml").write_text("trainer:\n  max_steps: [1, 2\n  limit_val_batches: 3\n", encoding="utf-8")
    (line,) = error_lines(capsys, ["fit", "--config", "bad.yaml"])
    assert line.startswith("seqlab: error: bad.yaml, line 3, column 20: ")
    assert line.endswith("(while parsing a flow sequence that starts on line 2)")


def test_missing_config_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert error_lines(capsys, ["fit", "--config", "nothere.yaml"]) == [
        "seqlab: error: nothere.yaml: no such config file"
    ]


def test_config_that_is_not_a_mapping_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    Path("list.yaml").write_text("- model\n- data\n", encoding="utf-8")
    assert error_lines(capsys, ["fit", "--config", "list.yaml"]) == [
        "seqlab: error: list.yaml: expected a YAML mapping of settings (model:, data:, trainer: ...), "
        "found a list"
    ]


def test_inline_config_string_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    """jsonargparse also takes a YAML mapping as the value of --config; that is not a missing file."""
    with pytest.raises(SystemExit) as exit_info:  # --print_config prints, then exits 0
        main(["fit", "--config", str(CONFIG), "--config", "{trainer: {max_steps: 1}}", "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "max_steps: 1\n" in capsys.readouterr().out


def test_tune_malformed_config_names_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.yaml").write_text(BAD_YAML, encoding="utf-8")
    assert error_lines(capsys, ["tune", "--config", "bad.yaml", "--sweep", str(SWEEP)]) == [
        f"seqlab: error: {BAD_YAML_MESSAGE}"
    ]


def test_build_from_config_malformed_config_names_file_and_line() -> None:
    """The path that `seqlab diagnose` and `predict` build through."""
    Path("bad.yaml").write_text(BAD_YAML, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_from_config("bad.yaml")
    assert str(info.value) == BAD_YAML_MESSAGE


def test_malformed_sweep_file_names_file_and_line() -> None:
    Path("sweep.yaml").write_text("metric: val/loss\nspace:\n  lr: [loguniform, 1e-4\n", encoding="utf-8")
    with pytest.raises(SweepError) as info:
        load_sweep("sweep.yaml")
    assert str(info.value).startswith("sweep.yaml, line 4, column 1: ")
    assert "<unicode string>" not in str(info.value)


# c) impossible speech manifest durations


@pytest.mark.parametrize(
    "duration",
    ["-5", "0", "NaN", "Infinity", '"2.5"', "true"],
    ids=["negative", "zero", "nan", "inf", "str", "bool"],
)
def test_manifest_duration_must_be_positive_and_finite(tmp_path: Path, duration: str) -> None:
    write_wav(tmp_path / "a.wav", 0.3)
    manifest = write_manifest(
        tmp_path / "m.jsonl",
        [
            {"audio": "a.wav", "text": "fine", "duration": 0.3},
            f'{{"audio": "a.wav", "text": "x", "duration": {duration}}}',
        ],
    )
    with pytest.raises(DataError) as info:
        read_manifest(manifest)
    assert str(info.value) == (
        f"{manifest}:2: 'duration' must be a positive, finite number of seconds (e.g. 2.5), "
        f"got {json.loads(duration)!r}"
    )


def test_manifest_valid_duration_is_kept(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 0.3)
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": "a.wav", "text": "x", "duration": 2}])
    assert read_manifest(manifest)[0].duration == 2.0


# d) CER/WER against the real reference


class AlphabetLimitedModel(SpeechRecognitionTask):
    """Stands in for a perfectly trained model: it transcribes every utterance as exactly its target
    ids, the best any model over the training alphabet can emit."""

    def on_validation_batch_start(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._best = [batch["targets"][i, : int(n)].tolist() for i, n in enumerate(batch["target_lengths"])]

    def decode(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, *args: Any, **kwargs: Any
    ) -> list[list[int]]:
        return self._best


def test_error_rates_count_reference_symbols_the_alphabet_lacks(tmp_path: Path) -> None:
    """Validation "abc xyz" with a training alphabet of "abc ": the model cannot emit x, y, z and is
    charged 4 character edits of 7 (" xyz") and 1 word of 2, not 0% as when the reference was rebuilt
    from the alphabet's ids."""
    for name in ("t1", "t2", "v1"):
        write_wav(tmp_path / f"{name}.wav", 0.4)
    train = write_manifest(
        tmp_path / "train.jsonl", [{"audio": "t1.wav", "text": "abc ab"}, {"audio": "t2.wav", "text": "ba c"}]
    )
    validation = write_manifest(tmp_path / "validation.jsonl", [{"audio": "v1.wav", "text": "ABC  xyz"}])
    with pytest.warns(UserWarning, match="'x' x1"):
        data = SpeechData(
            SpeechManifests(str(train), str(validation)),
            num_mel_bins=8,
            spec_augment=False,
            batch_size=2,
            cache_dir=str(tmp_path / "cache"),
        )
    model = AlphabetLimitedModel(
        vocab_size=data.vocab_size,
        num_features=data.num_features,
        net=AcousticConfig(hidden_size=8, num_layers=1, subsampling_factor=2),
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    hand_data(model, data)  # what seqlab's engine does after building
    (metrics,) = trainer.validate(model, datamodule=data, verbose=False)
    assert math.isclose(metrics["val/cer"], 4 / 7, rel_tol=1e-6), metrics
    assert math.isclose(metrics["val/wer"], 1 / 2, rel_tol=1e-6), metrics
