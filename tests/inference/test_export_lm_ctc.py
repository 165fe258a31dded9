"""``seqlab export`` of a language model (its step graph) and of a CTC speech recognizer, both
formats, exported once on CPU and run on batches unlike the traced ones, and through ``seqlab
generate`` / ``seqlab transcribe --backend``.

Tried: the step graph fed back its own state over a whole prompt gives the log-probabilities of the
PyTorch model reading the prompt in one pass, within 1e-5, for batches of 1 and 5 (traced: 3); greedy
generation from the export equal to generation from the checkpoint; CTC log-probabilities within 1e-5
on utterances of mixed lengths, longer and shorter than traced (even a batch shorter than the graph's
fewest frames), and identical greedy transcripts; ``seqlab transcribe`` with greedy and beam-4 search
writing the same lines from the export as from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.inference.export.bundle import read_bundle
from seqlab.inference.export.runtime import ExportedLanguageModel, ExportedRecognizer
from seqlab.inference.loader import load_trained
from seqlab.nn.ctc import ctc_greedy_decode
from tests.data.speech_helpers import write_wav
from tests.inference.export_helpers import BACKEND, FORMATS, ctc_checkpoint, export, lm_checkpoint


@pytest.mark.parametrize("fmt", FORMATS)
def test_language_model_steps_match_pytorch(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = lm_checkpoint(tmp_path, cell="lstm")
    export(capsys, ckpt, fmt, tmp_path / "out")
    task, _ = load_trained(ckpt)
    exported = ExportedLanguageModel(read_bundle(tmp_path / "out"), BACKEND[fmt])
    for batch in (1, 5):
        ids = torch.randint(0, task.model.embedding.num_embeddings, (batch, 9))
        with torch.no_grad():
            logits, (h, c) = task(ids)
        log_probs, (got_h, got_c) = exported(ids)
        torch.testing.assert_close(log_probs, logits.log_softmax(-1), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got_h, h, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got_c, c, atol=1e-5, rtol=1e-4)


def generate(capsys, ckpt: Path, *backend: str) -> str:
    capsys.readouterr()
    argv = ["generate", "--ckpt_path", str(ckpt), "--prompt", "the ", "--max_new_tokens", "30"]
    main([*argv, "--temperature", "0", *backend])
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", FORMATS)
def test_generate_greedy_from_an_export_equals_the_checkpoint(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = lm_checkpoint(tmp_path, cell="gru")  # one state tensor, not LSTM's two
    export(capsys, ckpt, fmt, tmp_path / "out")
    want = generate(capsys, ckpt)
    assert len(want) > len("the ") + 20
    assert generate(capsys, tmp_path / "out", "--backend", BACKEND[fmt]) == want


@pytest.mark.parametrize("fmt", FORMATS)
def test_ctc_log_probs_and_greedy_transcripts_match_pytorch(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = ctc_checkpoint(tmp_path)
    export(capsys, ckpt, fmt, tmp_path / "out")
    task, _ = load_trained(ckpt)
    exported = ExportedRecognizer(read_bundle(tmp_path / "out"), BACKEND[fmt])
    for lengths in (torch.tensor([61, 5, 40, 17, 58]), torch.tensor([7, 3])):
        features = torch.randn(len(lengths), int(lengths.max()), 16)
        with torch.no_grad():
            want, want_lengths = task(features, lengths)
        got, got_lengths = exported(features, lengths)
        assert torch.equal(got_lengths, want_lengths)
        torch.testing.assert_close(got[:, : want.size(1)], want, atol=1e-5, rtol=1e-4)
        assert ctc_greedy_decode(got, got_lengths) == ctc_greedy_decode(want, want_lengths)


def transcribe(capsys, ckpt: Path, wavs: list[Path], *args: str) -> str:
    capsys.readouterr()
    main(["transcribe", "--ckpt_path", str(ckpt), "--input", *map(str, wavs), *args])
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", FORMATS)
def test_transcribe_from_an_export_equals_the_checkpoint(fmt: str, tmp_path: Path, capsys) -> None:
    ckpt = ctc_checkpoint(tmp_path)
    export(capsys, ckpt, fmt, tmp_path / "out")
    wavs = [
        write_wav(tmp_path / f"{n}.wav", seconds, hz=hz)
        for n, (seconds, hz) in enumerate([(0.4, 300.0), (1.1, 900.0), (0.05, 2000.0)])
    ]
    for search in ([], ["--beam_size", "4"]):
        want = transcribe(capsys, ckpt, wavs, *search)
        assert len(want.splitlines()) == 3 and any(line.split("\t")[1] for line in want.splitlines())
        got = transcribe(capsys, tmp_path / "out", wavs, "--backend", BACKEND[fmt], *search)
        assert got == want
