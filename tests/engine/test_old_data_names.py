"""Checkpoints written before a DataModule was renamed hold its state under the old class name
(Lightning files it under the class name): they still resume, predict and decode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.data import DATA_MODULES, LabelledFiles, LabellingData, SpeechData
from seqlab.engine.checkpoints import (
    RENAMED_DATA_MODULES,
    CheckpointError,
    checkpoint_data_state,
    data_state_key,
    read_checkpoint,
    recorded_data_state,
)
from seqlab.engine.config_files import config_file_problem

STATE = {"tokenizer": {"type": "word", "vocabulary": ["<unk>", "a"]}, "tags": ["O"]}


def _saved(path: Path, checkpoint: dict) -> Path:
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize("old", sorted(RENAMED_DATA_MODULES))
def test_a_data_state_under_an_old_class_name_is_read_under_the_new_one(tmp_path, old) -> None:
    new = RENAMED_DATA_MODULES[old]
    checkpoint = read_checkpoint(_saved(tmp_path / "old.ckpt", {"state_dict": {}, old: STATE}))
    assert old not in checkpoint and checkpoint[new] == STATE
    assert checkpoint_data_state(checkpoint) == STATE


def test_every_renamed_class_exists_under_its_new_name() -> None:
    names = {data_state_key(cls) for cls in DATA_MODULES}
    assert set(RENAMED_DATA_MODULES.values()) <= names
    assert not set(RENAMED_DATA_MODULES) & names
    assert {"LabellingData", "SpeechData"} <= names and data_state_key(SpeechData) == "SpeechData"


def test_the_data_state_is_found_by_class_name_not_by_a_tokenizer_key(tmp_path) -> None:
    """Not any dict with a ``tokenizer`` key (a callback's state could have one): the DataModule's."""
    checkpoint = {"state_dict": {}, "SomeCallback": {"tokenizer": {}}, "SpeechData": {"features": {}}}
    assert checkpoint_data_state(checkpoint) == {"features": {}}


def test_a_checkpoint_without_data_state_is_refused_by_name(tmp_path) -> None:
    path = _saved(tmp_path / "bare.ckpt", {"state_dict": {}, "Other": {"tokenizer": {}}})
    with pytest.raises(CheckpointError, match=r"bare\.ckpt holds no data state of a seqlab DataModule"):
        checkpoint_data_state(read_checkpoint(path), path)


def test_a_datamodule_finds_its_state_in_an_old_checkpoint(tmp_path, tiny_conll) -> None:
    """What resuming and ``load_weights`` do: the state of this DataModule's class, renamed or not."""
    data = LabellingData(LabelledFiles(str(tiny_conll["train"]), str(tiny_conll["validation"])), batch_size=4)
    path = _saved(tmp_path / "old.ckpt", {"state_dict": {}, "TaggingData": data.state_dict()})
    state = recorded_data_state(read_checkpoint(path), data)
    assert state == data.state_dict()
    data.load_state_dict(state)  # the check every seqlab DataModule makes passes


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("seqlab.data.TaggingData", "seqlab.data.LabellingData"),
        ("seqlab.data.speech_data.SpeechDataModule", "seqlab.data.SpeechData"),
        ("seqlab.data.tagging_data.TaggedFiles", "seqlab.data.LabelledFiles"),
        ("seqlab.data.corpora.TextFiles", "seqlab.data.TextFiles"),
    ],
)
def test_a_config_with_an_old_class_path_is_told_the_new_one(tmp_path, old, new) -> None:
    config = tmp_path / "old.yaml"
    config.write_text(f"data:\n  class_path: {old}\n  init_args:\n    source:\n      class_path: {old}\n")
    assert config_file_problem(config) == f"{config}: class_path {old} is now {new}; change it in the config"


def test_current_class_paths_pass(tmp_path) -> None:
    config = tmp_path / "new.yaml"
    config.write_text(
        "data:\n  class_path: seqlab.data.modules.speech.SpeechData\n"
        "  init_args:\n    source:\n      class_path: seqlab.data.BuiltinSpeech\n"
    )
    assert config_file_problem(config) is None
