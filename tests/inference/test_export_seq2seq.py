"""An encoder-decoder exported (ONNX run by ONNX Runtime, torch.export run by PyTorch) decodes as the
PyTorch model does, and ``seqlab decode --ckpt_path DIR --backend ...`` runs the export folder.

Tried: the graphs traced once on 2 sources of length 5 and 3 hypothesis rows, then run on 6 sources
with mixed lengths (11, 1, 4, 7, 2, 8) and rows that repeat and reorder sources (beam search's 5 per
source, a greedy batch shrinking as sentences end); LSTM with additive attention and input feeding,
GRU with dot attention without it, and a tanh RNN without attention; every way a folder can be the
wrong one.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.data import CharTokenizer, TransductionData, WordTokenizer
from seqlab.data.examples import ParallelExample
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import encode_source
from seqlab.data.sources.transduction import ParallelSource
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.inference.decode import Decoder, _write
from seqlab.inference.export.bundle import read_bundle, write_bundle
from seqlab.inference.export.seq2seq_graphs import seq2seq_decoding, seq2seq_graphs
from seqlab.inference.export.seq2seq_runtime import ExportedSeq2Seq
from seqlab.inference.options import SearchSettings
from seqlab.nn import Seq2SeqConfig
from seqlab.nn.search import beam_search, greedy_search, sample_search
from seqlab.tasks import TransductionTask

BACKEND = {"onnx": "onnxruntime", "torch-export": "torch"}
WORDS = ["abcdefghijk", "a", "bead", "cabbage", "be", "hijacked"]  # lengths 11, 1, 4, 7, 2, 8
# Largest difference of a log-probability from PyTorch's: ONNX Runtime's kernels sum in other orders.
TOLERANCE = {"onnx": 2e-5, "torch-export": 1e-6}
VARIANTS = {
    "lstm-additive-feeding": ("lstm", "additive", True),
    "gru-dot": ("gru", "dot", False),
    "rnn-no-attention": ("rnn_tanh", "none", False),
    "mingru-additive": ("mingru", "additive", False),  # a scan cell: torch's scan operator in the graphs
}


class Letters(ParallelSource):
    """One word spelt as letters: a-k in the source vocabulary, a few target symbols."""

    def load(self) -> dict[str, list[ParallelExample]]:
        train = [ParallelExample("abcdefghijk", ["A B C D E F G H I J K"], "w:1")]
        return {"train": train, "validation": train}


def _task(cell: str, attention: str, input_feeding: bool) -> tuple[TransductionTask, dict]:
    """A task with random weights (outputs only need comparing) and its data state."""
    data = TransductionData(Letters(), CharTokenizer(), WordTokenizer())
    torch.manual_seed(0)
    net = Seq2SeqConfig(
        cell=cell, embedding_size=8, hidden_size=12, encoder_layers=2, attention=attention,  # type: ignore[arg-type]
        input_feeding=input_feeding, dropout=0.0,
    )  # fmt: skip
    task = TransductionTask(
        data.source_vocab_size, data.target_vocab_size, net, eval_beam_size=5, max_decode_length=12
    )
    with torch.no_grad():  # EOS rare, so that sentences run to their limits, which differ
        task.model.output.bias[task.model.eos_id] = -3.0
    return task.eval(), data.state_dict()


def _sources(state: dict) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer = tokenizer_from_state(state["tokenizer"])
    ids = [encode_source(tokenizer, word, "test") for word in WORDS]
    return pad(ids), torch.tensor([len(i) for i in ids])


Exported = tuple[TransductionTask, dict, dict[str, Path]]


@pytest.fixture(scope="module")
def export_of(tmp_path_factory) -> Callable[[str], Exported]:
    """Each variant's model exported once in each format, when a test first asks for it."""

    @functools.cache
    def export(variant: str) -> Exported:
        task, state = _task(*VARIANTS[variant])
        folders = {}
        for fmt in BACKEND:
            folders[fmt] = tmp_path_factory.mktemp(variant) / fmt
            graphs, decoding = seq2seq_graphs(task), seq2seq_decoding(task)
            write_bundle(folders[fmt], "encoder-decoder", fmt, graphs, state, decoding)  # type: ignore[arg-type]
        return task, state, folders

    return export


@pytest.fixture(params=list(VARIANTS))
def exported(request, export_of) -> Exported:
    return export_of(request.param)


@pytest.mark.parametrize("fmt", list(BACKEND))
def test_steps_give_pytorch_log_probs(exported, fmt: str) -> None:
    """Step by step on the same rows, with rows repeated and reordered as beams are."""
    task, state, folders = exported
    graphs = ExportedSeq2Seq(read_bundle(folders[fmt]), BACKEND[fmt])  # type: ignore[arg-type]
    src, lengths = _sources(state)
    want, got = task.model.start(src, lengths), graphs.start(src, lengths)
    tokens = torch.full((6,), task.model.bos_id)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for index in (torch.arange(6).repeat_interleave(3), torch.randint(0, 18, (18,), generator=generator)):
            want_lp, want = task.model.step(tokens, want)
            got_lp, got = graphs.step(tokens, got)
            torch.testing.assert_close(got_lp, want_lp, atol=TOLERANCE[fmt], rtol=0)
            want, got = task.model.reorder(want, index), graphs.reorder(got, index)
            tokens = torch.randint(3, task.model.target_vocab_size, (index.numel(),), generator=generator)
        torch.testing.assert_close(
            graphs.step(tokens, got)[0], task.model.step(tokens, want)[0], atol=TOLERANCE[fmt], rtol=0
        )


@pytest.mark.parametrize("fmt", list(BACKEND))
def test_greedy_sampled_and_beam_outputs_are_pytorch_outputs(exported, fmt: str) -> None:
    """The searches drive the graphs unchanged: the same tokens (sampling: from the same seed)."""
    task, state, folders = exported
    graphs = ExportedSeq2Seq(read_bundle(folders[fmt]), BACKEND[fmt])  # type: ignore[arg-type]
    src, lengths = _sources(state)
    for search in (
        lambda model: [[h] for h in greedy_search(model, src, lengths, max_len=12, max_len_ratio=1.0)],
        lambda model: [
            [h]
            for h in sample_search(
                model, src, lengths, max_len=12, top_k=5, generator=torch.Generator().manual_seed(3)
            )
        ],
        lambda model: beam_search(model, src, lengths, 5, 5, max_len=12, max_len_ratio=1.0),
    ):
        want, got = search(task.model), search(graphs)
        assert [[h.tokens for h in hyps] for hyps in got] == [[h.tokens for h in hyps] for hyps in want]
        scores = [
            (a.score, b.score) for x, y in zip(got, want, strict=True) for a, b in zip(x, y, strict=True)
        ]
        assert max(abs(a - b) for a, b in scores) < 1e-4
    assert len({len(hyps[0].tokens) for hyps in want}) > 1  # sentences left the batch at different steps


@pytest.mark.parametrize("fmt", list(BACKEND))
def test_decode_verb_runs_an_export_folder(export_of, fmt: str, tmp_path: Path, capsys) -> None:
    """``seqlab decode`` on the folder writes what the PyTorch model's Decoder writes, with the
    length limits the manifest recorded (max_decode_length 12)."""
    task, state, folders = export_of("lstm-additive-feeding")
    (tmp_path / "words.txt").write_text("\n".join(WORDS) + "\n")
    flags = ["--input", str(tmp_path / "words.txt"), "--beam_size", "5", "--n_best", "2"]
    main(["decode", "--ckpt_path", str(folders[fmt]), "--backend", BACKEND[fmt], *flags])
    got = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    source, target = (tokenizer_from_state(state[k]) for k in ("tokenizer", "target_tokenizer"))
    settings = SearchSettings(beam_size=5, n_best=2)
    pytorch = Decoder(task, source, target, settings)
    with torch.inference_mode():
        found = pytorch(WORDS, WORDS)
    out = io.StringIO()
    for number, results in enumerate(found, 1):
        _write(out, number, results, with_scores=True)
    want = [line.split("\t") for line in out.getvalue().splitlines()]
    assert len(got) == len(want) == 2 * len(WORDS)
    assert [(n, text) for n, _, text in got] == [(n, text) for n, _, text in want]
    assert all(abs(float(a[1]) - float(b[1])) <= 2e-4 for a, b in zip(got, want, strict=True))


def _refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_wrong_folders_and_backends_are_one_line_errors(export_of, tmp_path: Path, capsys) -> None:
    """Every way the model given to ``seqlab decode`` can be the wrong one, each refused in one line
    that names it."""
    _, _, folders = export_of("lstm-additive-feeding")
    (tmp_path / "words.txt").write_text("bead\n")
    decode = ["decode", "--input", str(tmp_path / "words.txt"), "--ckpt_path"]
    onnx, program = str(folders["onnx"]), str(folders["torch-export"])
    err = _refused([*decode, onnx, "--backend", "torch"], capsys)
    assert "which --backend torch cannot run; use --backend onnxruntime" in err
    err = _refused([*decode, program, "--backend", "onnxruntime"], capsys)
    assert "which --backend onnxruntime cannot run; use --backend torch" in err
    assert "graphs run on the CPU" in _refused([*decode, program, "--device", "cuda"], capsys)
    (tmp_path / "model.ckpt").write_bytes(b"not read")
    err = _refused([*decode, str(tmp_path / "model.ckpt"), "--backend", "onnxruntime"], capsys)
    assert "--backend onnxruntime runs an export folder" in err and "model.ckpt is none" in err

    def broken(name: str, change: Callable[[Path], object]) -> str:
        folder = tmp_path / name
        shutil.copytree(onnx, folder)
        change(folder)
        return str(folder)

    def kind(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps(manifest | {"kind": "classification"}))

    tagger = broken("classifier", kind)
    assert "use seqlab predict for it" in _refused([*decode, tagger, "--backend", "onnxruntime"], capsys)
    cases = {
        "no_manifest": (lambda f: (f / "manifest.json").unlink(), "manifest.json is missing"),
        "bad_manifest": (lambda f: (f / "manifest.json").write_text("{"), "damaged export"),
        "no_graph": (lambda f: (f / "decoder_step.onnx").unlink(), "decoder_step.onnx (graph "),
        "bad_graph": (lambda f: (f / "encoder.onnx").write_bytes(b"\0" * 10), "encoder.onnx: damaged graph"),
    }
    for name, (change, said) in cases.items():
        for backend in ("torch", "onnxruntime"):  # a folder with graphs is an export whichever runs it
            folder = broken(f"{name}_{backend}", change)
            err = _refused([*decode, folder, "--backend", backend], capsys)
            assert said in err or (backend == "torch" and "which --backend torch cannot run" in err), err
