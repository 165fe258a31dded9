"""An encoder-decoder exported (ONNX run by ONNX Runtime, torch.export run by PyTorch) decodes as the
PyTorch model does, and ``seqlab decode --ckpt_path DIR --backend ...`` runs the export folder.

Tried: the graphs traced once on 2 sources of length 5 and 3 hypothesis rows, then run on 6 sources
with mixed lengths (11, 1, 4, 7, 2, 8) and rows that repeat and reorder sources (beam search's 5 per
source, a greedy batch shrinking as sentences end); LSTM with additive attention and input feeding,
GRU with dot attention without it, and a tanh RNN without attention; every way a folder can be the
wrong one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.data import CharTokenizer, TransductionData, WordTokenizer
from seqlab.data.examples import ParallelExample
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import encode_source
from seqlab.data.sources.transduction import ParallelSource
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.inference.export.bundle import read_bundle, write_bundle
from seqlab.inference.export.seq2seq_graphs import seq2seq_decoding, seq2seq_graphs
from seqlab.inference.export.seq2seq_runtime import ExportedSeq2Seq
from seqlab.nn import Seq2SeqConfig
from seqlab.nn.search import beam_search, greedy_search
from seqlab.tasks import TransductionTask

BACKEND = {"onnx": "onnxruntime", "torch-export": "torch"}
WORDS = ["abcdefghijk", "a", "bead", "cabbage", "be", "hijacked"]  # lengths 11, 1, 4, 7, 2, 8
# Largest difference of a log-probability from PyTorch's: ONNX Runtime's kernels sum in other orders.
TOLERANCE = {"onnx": 2e-5, "torch-export": 1e-6}
VARIANTS = {
    "lstm-additive-feeding": ("lstm", "additive", True),
    "gru-dot": ("gru", "dot", False),
    "rnn-no-attention": ("rnn_tanh", "none", False),
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


@pytest.fixture(scope="module", params=list(VARIANTS))
def exported(request, tmp_path_factory) -> tuple[TransductionTask, dict, dict[str, Path]]:
    """One model exported once in each format."""
    task, state = _task(*VARIANTS[request.param])
    folders = {}
    for fmt in BACKEND:
        folders[fmt] = tmp_path_factory.mktemp(request.param) / fmt
        write_bundle(
            folders[fmt], "encoder-decoder", fmt, seq2seq_graphs(task), state, seq2seq_decoding(task)
        )  # type: ignore[arg-type]
    return task, state, folders


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
def test_greedy_and_beam_outputs_are_pytorch_outputs(exported, fmt: str) -> None:
    task, state, folders = exported
    graphs = ExportedSeq2Seq(read_bundle(folders[fmt]), BACKEND[fmt])  # type: ignore[arg-type]
    src, lengths = _sources(state)
    for search in (
        lambda model: [[h] for h in greedy_search(model, src, lengths, max_len=12, max_len_ratio=1.0)],
        lambda model: beam_search(model, src, lengths, 5, 5, max_len=12, max_len_ratio=1.0),
    ):
        want, got = search(task.model), search(graphs)
        assert [[h.tokens for h in hyps] for hyps in got] == [[h.tokens for h in hyps] for hyps in want]
        scores = [
            (a.score, b.score) for x, y in zip(got, want, strict=True) for a, b in zip(x, y, strict=True)
        ]
        assert max(abs(a - b) for a, b in scores) < 1e-4
    assert len({len(hyps[0].tokens) for hyps in want}) > 1  # sentences left the batch at different steps
