"""``seqlab export`` of a classifier and of taggers (CRF with character features, and per-token
argmax), both formats, exported once on CPU; then the graphs are run on a batch larger and longer
than the traced one (3 sentences, 7 words) with mixed lengths, and through ``seqlab predict
--backend``.

Tried: probabilities within 1e-5 of the PyTorch task's (ONNX Runtime's LSTM sums in another order;
torch.export runs the same kernels); Viterbi tags identical to :meth:`LinearChainCRF.viterbi` on
every sentence (random CRF weights, so the best path is not the per-token argmax); predict's output
through an export folder equal to its output through the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.inference.export.bundle import open_graph, read_bundle
from seqlab.inference.loader import load_trained
from seqlab.nn.pooling import lengths_to_mask
from tests.inference.export_helpers import (
    BACKEND,
    FORMATS,
    classifier_checkpoint,
    export,
    tagger_checkpoint,
)

LENGTHS = torch.tensor([11, 1, 4, 9, 2, 6])  # more rows and steps than traced; one word alone


def random_batch(vocab: int, lengths: torch.Tensor, seed: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (len(lengths), int(lengths.max())), generator=generator)
    return ids.masked_fill(~lengths_to_mask(lengths, ids.size(1)), 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_classifier_probabilities_match_pytorch(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = classifier_checkpoint(tmp_path)
    lines = export(capsys, ckpt, fmt, tmp_path / "out")
    suffix = ".onnx" if fmt == "onnx" else ".pt2"
    assert [line.split()[1] for line in lines] == [
        str(tmp_path / "out" / name) for name in (f"classifier{suffix}", "data_state.json", "manifest.json")
    ]
    assert not any("[torch.onnx]" in line for line in lines)
    task, _ = load_trained(ckpt)
    ids = random_batch(task.model.embedding.num_embeddings, LENGTHS)
    with torch.no_grad():
        want = task.probabilities({"ids": ids, "lengths": LENGTHS})
    graph = open_graph(read_bundle(tmp_path / "out"), "classifier", BACKEND[fmt])
    _, got = graph(ids=ids, lengths=LENGTHS)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert torch.equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
def test_every_pooling_exports_exactly(pooling: str, tmp_path: Path, capsys) -> None:
    """The other poolings (masking padding in the graph, not through lengths in a gather), with GRUs:
    a torch.export program runs the same kernels, so its logits are the task's bit for bit."""
    ckpt = classifier_checkpoint(tmp_path, cell="gru", pooling=pooling)
    export(capsys, ckpt, "torch-export", tmp_path / "out")
    task, _ = load_trained(ckpt)
    ids = random_batch(task.model.embedding.num_embeddings, LENGTHS)
    with torch.no_grad():
        want = task(ids, LENGTHS)
    logits, _ = open_graph(read_bundle(tmp_path / "out"), "classifier", "torch")(ids=ids, lengths=LENGTHS)
    assert torch.equal(logits, want)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("crf", "chars"), [(True, True), (False, False)])
def test_tagger_tags_match_pytorch(fmt: str, crf: bool, chars: bool, tmp_path: Path, capsys) -> None:
    ckpt = tagger_checkpoint(tmp_path, crf=crf, chars=chars)
    export(capsys, ckpt, fmt, tmp_path / "out")
    task, _ = load_trained(ckpt)
    model = task.model
    words = random_batch(model.embedding.num_embeddings, LENGTHS)
    tensors = {"words": words, "lengths": LENGTHS}
    if chars:
        char_lengths = random_batch(6, LENGTHS, seed=4).clamp(max=5)  # 0 exactly on padding words
        char_ids = random_batch(model.char_encoder.embedding.num_embeddings, char_lengths.flatten(), 5)
        tensors |= {"chars": char_ids.view(*words.shape, -1), "char_lengths": char_lengths}
    batch = {"chars": None, "char_lengths": None, **tensors}
    with torch.no_grad():
        emissions = task(batch)
        want = model.decode(emissions, LENGTHS)
    graph = open_graph(read_bundle(tmp_path / "out"), "tagger", BACKEND[fmt])
    got_emissions, tags = graph(**tensors)
    torch.testing.assert_close(got_emissions, emissions, atol=1e-5, rtol=1e-4)
    got = [row[:n] for row, n in zip(tags.tolist(), LENGTHS.tolist(), strict=True)]
    assert got == want
    if crf:  # the CRF changed some best path: Viterbi, not argmax, was exported
        argmax = [row[:n] for row, n in zip(emissions.argmax(-1).tolist(), LENGTHS.tolist(), strict=True)]
        assert got != argmax


def predict_lines(capsys, ckpt: Path, text: Path, *backend: str) -> str:
    capsys.readouterr()
    main(["predict", "--ckpt_path", str(ckpt), "--input", str(text), *backend])
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", FORMATS)
def test_predict_runs_export_folders_as_the_checkpoint(fmt: str, tmp_path: Path, capsys) -> None:
    text = tmp_path / "in.txt"
    text.write_text("the cat sleeps .\na dog runs quickly and slowly barks\nzebra\n", encoding="utf-8")
    for ckpt in (classifier_checkpoint(tmp_path), tagger_checkpoint(tmp_path)):
        folder = tmp_path / f"{ckpt.stem}_{fmt}"
        export(capsys, ckpt, fmt, folder)
        want = predict_lines(capsys, ckpt, text)
        assert predict_lines(capsys, folder, text, "--backend", BACKEND[fmt]) == want
