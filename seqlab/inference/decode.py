"""``seqlab decode``: run a trained encoder-decoder over input lines (a file, standard input, or
interactively line by line) with greedy, beam or sampled decoding; the model is a checkpoint, or an
export folder (``seqlab export``) run by PyTorch or ONNX Runtime (``--backend``)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import torch

from seqlab.data.formats.text_files import read_text_lines
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import detokenize_target, encode_source
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.engine.errors import UserError
from seqlab.inference.loader import Trained, load_for_verb, model_path
from seqlab.inference.options import (
    DecodeInput,
    OutputFile,
    Runtime,
    SearchSettings,
    TrainedModel,
    as_evaluated,
)
from seqlab.nn.search import Hypothesis, beam_search, greedy_search, sample_search


class Decoder:
    """A loaded model with its tokenizers and search settings (those not given filled in with the
    checkpoint's, :func:`as_evaluated`); ``__call__`` decodes a list of lines into the n best
    (output, score) pairs of each."""

    def __init__(self, task: Any, source: Tokenizer, target: Tokenizer, settings: SearchSettings) -> None:
        """``task``: a TransductionTask, or an export folder's ``ExportedTransducer`` (``model``,
        ``device`` and the evaluated decoding settings, under the task's names)."""
        self.task, self.source, self.target = task, source, target
        self.settings = as_evaluated("decode", settings, settings.evaluated(task))
        self.generator = torch.Generator(device=task.device)
        if settings.seed is not None:
            self.generator.manual_seed(settings.seed)

    def __call__(self, lines: list[str], where: Iterable[str]) -> list[list[tuple[str, float]]]:
        ids = [encode_source(self.source, line, w) for line, w in zip(lines, where, strict=True)]
        device = self.task.device
        src = pad(ids).to(device)
        lengths = torch.tensor([len(i) for i in ids], dtype=torch.long, device=device)
        found = self.search(src, lengths)
        return [[(detokenize_target(self.target, h.tokens), h.score) for h in hyps] for hyps in found]

    def search(self, src: torch.Tensor, lengths: torch.Tensor) -> list[list[Hypothesis]]:
        """The hypotheses of every source row: one sampled or greedy, or the n best of a beam."""
        s, model, limits = self.settings, self.task.model, self.settings.length_limits(self.task)
        if s.sample:
            sampled = sample_search(
                model, src, lengths, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                generator=self.generator, **limits,
            )  # fmt: skip
            return [[h] for h in sampled]
        if s.beam_size is None or s.beam_size <= 1:
            return [[h] for h in greedy_search(model, src, lengths, **limits)]
        return beam_search(
            model, src, lengths, s.beam_size, s.n_best, length_penalty=s.length_penalty or 0.0,
            no_repeat_ngram_size=s.no_repeat_ngram_size, **limits,
        )  # fmt: skip

    @classmethod
    def from_trained(cls, trained: Trained, settings: SearchSettings) -> Decoder:
        task, source, target = trained.task, trained.tokenizer, trained.target_tokenizer
        assert source is not None and target is not None  # an encoder-decoder's (checkpoint or export)
        return cls(task, source, target, settings)


def one_line(text: str) -> str:
    """``text`` with its line breaks (any that ``str.splitlines`` knows) turned into spaces: a subword
    model can emit a newline piece, and output line k must stay the output of input line k."""
    return " ".join(text.splitlines()) if text else text


def _write(out: TextIO, number: int, results: list[tuple[str, float]], with_scores: bool) -> None:
    if not with_scores:
        out.write(one_line(results[0][0]) + "\n")
        return
    for text, score in results:
        out.write(f"{number}\t{score:.4f}\t{one_line(text)}\n")


def _batches(lines: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(lines), size):
        yield start, lines[start : start + size]


def _answer_interactively(run: Decoder, with_scores: bool) -> None:
    """Read standard input line by line, answering each non-blank line at once."""
    for number, line in enumerate(sys.stdin, 1):
        text = line.rstrip("\n")
        if text.strip():
            _write(sys.stdout, number, run([text], [f"<stdin>:{number}"])[0], with_scores)
            sys.stdout.flush()


def _decode_file(
    run: Decoder, reading: DecodeInput, out: OutputFile, with_scores: bool, batch_size: int
) -> None:
    """Decode every line of ``reading.input`` (``-``: standard input) in batches, in order."""
    source = reading.input
    if source == "-":
        lines, name = sys.stdin.read().splitlines(), "<stdin>"
    else:
        lines, name = read_text_lines(source, "no lines", "one source per line"), str(source)

    def write_all(file: TextIO) -> None:
        for start, chunk in _batches(lines, batch_size):
            where = [f"{name}:{start + i + 1}" for i in range(len(chunk))]
            for i, results in enumerate(run(chunk, where)):
                _write(file, start + i + 1, results, with_scores)

    out.write(write_all)


def decode(
    model: TrainedModel, runtime: Runtime, reading: DecodeInput, search: SearchSettings, out: OutputFile
) -> None:
    """Decode every input line with a trained encoder-decoder."""
    path = model_path(model, "decode", runtime)
    if not reading.input and not reading.interactive:
        raise UserError("--input: expected a file to decode (or - for standard input), or --interactive true")
    out.check([reading.input] if reading.input else [], path)
    trained = load_for_verb(path, "decode", runtime)
    run = Decoder.from_trained(trained, search)
    with_scores = reading.scores or search.n_best > 1
    with trained.running():
        if reading.interactive:
            _answer_interactively(run, with_scores)
        else:
            _decode_file(run, reading, out, with_scores, runtime.batch(64))
