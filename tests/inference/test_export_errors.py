"""What a user gets wrong with exports ends in one error line that names the folder or file and what
to do, never a traceback: an export folder given to a verb of another kind, a checkpoint with
``--backend onnxruntime``, a folder of the other format than the backend runs, a missing or damaged
manifest, a model whose cell does not export, and an ``--output`` that must not be replaced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.inference.export.verb import export
from seqlab.inference.options import ExportSettings, TrainedModel
from tests.inference.export_helpers import classifier_checkpoint, error_line


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """A classifier checkpoint and its torch-export folder (the quicker format to write)."""
    folder = tmp_path_factory.mktemp("exported")
    ckpt = classifier_checkpoint(folder)
    export(TrainedModel(str(ckpt)), ExportSettings("torch-export", str(folder / "clf")))
    return {"ckpt": ckpt, "folder": folder / "clf"}


def test_an_export_of_another_kind_names_the_verb_that_runs_it(exported, capsys) -> None:
    line = error_line(capsys, ["generate", "--ckpt_path", str(exported["folder"])])
    assert (
        line
        == f"seqlab: error: {exported['folder']} holds an exported classification; use seqlab predict for it"
    )


def test_onnxruntime_runs_export_folders_only(exported, capsys, tmp_path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("the cat\n", encoding="utf-8")
    argv = ["predict", "--input", str(text), "--backend", "onnxruntime", "--ckpt_path"]
    line = error_line(capsys, [*argv, str(exported["ckpt"])])
    assert "--backend onnxruntime runs an export folder" in line and "seqlab export --ckpt_path" in line
    line = error_line(capsys, [*argv, str(exported["folder"])])
    assert "holds torch-export graphs, which --backend onnxruntime cannot run; use --backend torch" in line


def test_without_backend_an_export_runs_on_the_backend_of_its_format(exported, capsys, tmp_path) -> None:
    """``--backend`` defaults to ``auto``: ONNX Runtime for an ONNX folder, PyTorch for torch.export and
    for a checkpoint; all three give the same labels."""
    onnx_folder = tmp_path / "clf_onnx"
    export(TrainedModel(str(exported["ckpt"])), ExportSettings("onnx", str(onnx_folder)))
    text = tmp_path / "in.txt"
    text.write_text("the cat sleeps\na dog barks quickly\n.\n", encoding="utf-8")
    outputs = {}
    for name, path in [("ckpt", exported["ckpt"]), ("torch", exported["folder"]), ("onnx", onnx_folder)]:
        capsys.readouterr()
        main(["predict", "--input", str(text), "--ckpt_path", str(path)])
        outputs[name] = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(outputs["ckpt"]) == 3 and outputs["ckpt"] == outputs["torch"] == outputs["onnx"]


def test_a_missing_or_damaged_manifest_is_named(exported, capsys, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(exported["folder"], broken)
    text = tmp_path / "in.txt"
    text.write_text("the cat\n", encoding="utf-8")
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    argv = ["predict", "--input", str(text), "--ckpt_path", str(broken)]
    assert f"seqlab: error: {broken}: damaged export" in error_line(capsys, argv)
    (broken / "manifest.json").write_text('{"seqlab_export": 1}', encoding="utf-8")
    assert "damaged export (no valid kind, format, graphs)" in error_line(capsys, argv)
    (broken / "manifest.json").unlink()
    line = error_line(capsys, argv)
    assert line == f"seqlab: error: {broken} is not a seqlab export: manifest.json is missing"


def test_output_is_replaced_only_when_it_is_an_export_and_overwrite_is_given(exported, capsys, tmp_path):
    argv = ["export", "--ckpt_path", str(exported["ckpt"]), "--format", "torch-export", "--output"]
    line = error_line(capsys, [*argv, str(exported["folder"])])
    assert line.endswith("exists; --overwrite true replaces it")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine", encoding="utf-8")
    line = error_line(capsys, [*argv, str(other), "--overwrite", "true"])
    assert line.endswith("exists and is not a seqlab export; choose another folder")
    assert (other / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_export_without_output_is_one_line(exported, capsys) -> None:
    """No --output: one error line, exit 2, before the checkpoint is read (it was exit 1, no `error:`)."""
    line = error_line(capsys, ["export", "--ckpt_path", "nowhere.ckpt"])
    assert line == "seqlab: error: --output: expected the export folder to write, e.g. --output exports/model"


def test_a_language_model_without_a_recurrent_step_is_refused(capsys, tmp_path) -> None:
    """A fixed-window model has no recurrent state for the step graph to carry: refused by name."""
    from seqlab.data.tokenizers.characters import CharTokenizer
    from seqlab.nn.window_lm import FixedWindowLMConfig
    from seqlab.tasks.window_lm import FixedWindowLMTask
    from tests.inference.export_helpers import save_checkpoint

    chars = CharTokenizer().fit(["the cat sleeps"])
    task = FixedWindowLMTask(chars.vocab_size, FixedWindowLMConfig(context_size=3, hidden_size=8))
    state = {"tokenizer": chars.state_dict()}
    ckpt = save_checkpoint(tmp_path / "window.ckpt", task, "LanguageModelData", state)
    line = error_line(capsys, ["export", "--ckpt_path", str(ckpt), "--output", str(tmp_path / "out")])
    assert "a FixedWindowLMTask does not export" in line
    assert not (tmp_path / "out").exists()
