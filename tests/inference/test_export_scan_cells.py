"""The scan cells (minGRU, minLSTM) export like the classic ones: while a graph is traced their
recurrence runs as torch's ``scan`` operator (ONNX ``Scan``), so the graph takes any length.

Tried: a two-layer bidirectional classifier of each cell, traced on 3 sentences of 7 words and run on
6 of lengths 11, 1, 4, 9, 2, 6 (probabilities within 1e-5 of the task's, same labels), in both formats;
a minLSTM language model's step graph generating 30 characters greedily, equal to the checkpoint's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.inference.export.bundle import open_graph, read_bundle
from seqlab.inference.loader import load_trained
from tests.inference.export_helpers import BACKEND, FORMATS, classifier_checkpoint, export, lm_checkpoint
from tests.inference.test_export_classifier_tagger import LENGTHS, random_batch
from tests.inference.test_export_lm_ctc import generate


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_scan_cell_classifiers_export_with_a_dynamic_length(cell: str, fmt: str, tmp_path: Path, capsys):
    ckpt = classifier_checkpoint(tmp_path, cell=cell, pooling="mean")
    export(capsys, ckpt, fmt, tmp_path / "out")
    task, _ = load_trained(ckpt)
    ids = random_batch(task.model.embedding.num_embeddings, LENGTHS)
    with torch.no_grad():
        want = task.probabilities({"ids": ids, "lengths": LENGTHS})
    _, got = open_graph(read_bundle(tmp_path / "out"), "classifier", BACKEND[fmt])(ids=ids, lengths=LENGTHS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert torch.equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_scan_cell_language_model_generates_as_the_checkpoint(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = lm_checkpoint(tmp_path, cell="minlstm")
    export(capsys, ckpt, fmt, tmp_path / "out")
    want = generate(capsys, ckpt)
    assert len(want) > len("the ") + 20
    assert generate(capsys, tmp_path / "out") == want
