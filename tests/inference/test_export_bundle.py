"""An export folder keeps the data state a runtime needs to turn text into ids and back, whatever it
holds: a sentencepiece model is bytes, which JSON has no form for (before: `seqlab export` of any
model with a sentencepiece tokenizer failed with "Object of type bytes is not JSON serializable").

Tried: a sentencepiece tokenizer fitted on real English sentences (small_parallel_enja's train side)
written into a folder and read back encodes and decodes exactly as the fitted one; a damaged base64
value is a one-line ExportError naming the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer
from seqlab.inference.export.bundle import DATA_STATE, ExportError, Graph, read_bundle, write_bundle

ENGLISH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "translation" / "train.en"


def test_sentencepiece_state_survives_the_folder(tmp_path: Path) -> None:
    lines = ENGLISH.read_text(encoding="utf-8").splitlines()[:2000]
    fitted = SentencePieceTokenizer("bpe", vocab_size=400).fit(lines, tmp_path / "cache")
    graph = Graph("scale", torch.nn.Linear(2, 2), (torch.zeros(3, 2),), ["x"], ["y"], {"x": {0: "batch"}})
    folder = tmp_path / "export"
    write_bundle(folder, "test", "torch-export", [graph], {"tokenizer": fitted.state_dict()}, {})
    again = tokenizer_from_state(read_bundle(folder).data_state["tokenizer"])
    for line in lines[-50:]:
        ids = [int(i) for i in fitted.encode(line)]
        assert [int(i) for i in again.encode(line)] == ids
        assert again.detokenize(ids) == fitted.detokenize(ids)

    state = json.loads((folder / DATA_STATE).read_text())
    state["tokenizer"]["model"]["base64"] = "not base64!"
    (folder / DATA_STATE).write_text(json.dumps(state))
    with pytest.raises(ExportError, match="damaged export"):
        read_bundle(folder)


def test_a_stop_between_the_two_renames_puts_the_earlier_export_back(tmp_path: Path, monkeypatch) -> None:
    """Replacing an export moves the earlier one aside, then the new one in. Ctrl-C between the two
    (here: the second rename raises KeyboardInterrupt) puts the earlier one back; it used to be deleted
    before the new one was in place, so a stop there lost both."""
    graph = Graph("scale", torch.nn.Linear(2, 2), (torch.zeros(3, 2),), ["x"], ["y"], {"x": {0: "batch"}})
    folder = tmp_path / "export"
    write_bundle(folder, "test", "torch-export", [graph], {"v": 1}, {})
    earlier = {p.name: p.read_bytes() for p in folder.iterdir()}
    renames = []
    real_replace = os.replace

    def stopped_on_the_second(source, target):
        renames.append((Path(source).name, Path(target).name))
        if len(renames) == 2:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr("seqlab.inference.export.bundle.os.replace", stopped_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(folder, "test", "torch-export", [graph], {"v": 2}, {})
    monkeypatch.undo()
    assert renames[0][0] == "export" and renames[1][1] == "export"  # aside, then the new one in
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no work or aside folder left


_KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
import torch
from seqlab.inference.export import bundle

folder = Path(sys.argv[1])
graph = bundle.Graph("scale", torch.nn.Linear(2, 2), (torch.zeros(3, 2),), ["x"], ["y"], {"x": {0: "batch"}})
bundle.write_bundle(folder, "test", "torch-export", [graph], {"v": 1}, {})
real_replace = os.replace

def killed_after_the_first(source, target):
    real_replace(source, target)
    os.kill(os.getpid(), signal.SIGKILL)  # the earlier export is aside, the new one not yet in

bundle.os.replace = killed_after_the_first
bundle.write_bundle(folder, "test", "torch-export", [graph], {"v": 2}, {})
"""


def test_an_export_killed_between_the_renames_is_put_back_when_next_read_or_written(tmp_path: Path) -> None:
    """SIGKILL (the OOM killer, `scancel`) between the two renames cannot run the `finally` that puts
    the earlier export back: it stays aside under a hidden `.old` name and the folder is missing. The
    next read or export of that folder renames it back (before, it stayed hidden and was never cleaned
    up). Tried: a real child process killing itself right after the first rename."""
    folder = tmp_path / "export"
    killed = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(folder)], check=False)
    assert killed.returncode == -9
    [aside] = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    assert not folder.exists() and aside.name.startswith(".export.")
    assert read_bundle(folder).data_state == {"v": 1}  # put back by the read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]

    os.replace(folder, aside)  # killed again: this time the next export finds it
    graph = Graph("scale", torch.nn.Linear(2, 2), (torch.zeros(3, 2),), ["x"], ["y"], {"x": {0: "batch"}})
    write_bundle(folder, "test", "torch-export", [graph], {"v": 3}, {})
    assert read_bundle(folder).data_state == {"v": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
