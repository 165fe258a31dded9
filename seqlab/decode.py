"""``seqlab decode``: run a trained encoder-decoder over input lines (a file, standard input, or
interactively line by line) with greedy, beam or sampled decoding."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import torch

from seqlab.data.formats.text_files import read_text_lines
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import detokenize_target, encode_source
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.loading import load_trained
from seqlab.nn.search import Hypothesis, beam_search, greedy_search, sample_search
from seqlab.tasks.transduction import TransductionTask
from seqlab.verb_options import OutputFile, TrainedModel, parse_verb_options


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """How ``seqlab decode`` searches: greedy, beam or sampling, and the length rules all of them keep.

    Args:
        beam_size: beam width (1: greedy).
        n_best: hypotheses written per input (beam search; implies ``scores``).
        length_penalty: GNMT length penalty alpha (0: none).
        max_len: longest output, in target tokens (default: the model's ``max_decode_length``).
        max_len_ratio: also stop at this many target tokens per source token (default: the model's
            ``max_decode_ratio``).
        min_len: no end of sequence before this many tokens.
        no_repeat_ngram_size: forbid repeating any n-gram of this size (0: off).
        sample: sample instead of searching (``temperature``, ``top_k``, ``top_p``, ``seed``).
        temperature: sampling temperature.
        top_k: sample among the k most likely tokens.
        top_p: sample from the smallest set of tokens with this much probability.
        seed: seed for sampling.
    """

    beam_size: int = 1
    n_best: int = 1
    length_penalty: float = 0.0
    max_len: int | None = None
    max_len_ratio: float | None = None
    min_len: int = 0
    no_repeat_ngram_size: int = 0
    sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def length_limits(self, task: TransductionTask) -> dict[str, int | float | None]:
        """``max_len``, ``max_len_ratio`` (the model's own where not given) and ``min_len``, as the
        searches take them."""
        max_len = task.max_decode_length if self.max_len is None else self.max_len
        ratio = task.max_decode_ratio if self.max_len_ratio is None else self.max_len_ratio
        return {"max_len": max_len, "max_len_ratio": ratio, "min_len": self.min_len}


@dataclasses.dataclass(frozen=True)
class DecodeInput:
    """What ``seqlab decode`` reads, and how it writes what it found.

    Args:
        input: a file with one source per line, or ``-`` for standard input.
        interactive: read standard input line by line and answer each line at once.
        scores: write ``line<TAB>score<TAB>output`` lines (line numbers from 1).
        batch_size: sources decoded together.
    """

    input: str | None = None
    interactive: bool = False
    scores: bool = False
    batch_size: int = 64


class Decoder:
    """A loaded model with its tokenizers and search settings; ``__call__`` decodes a list of lines
    into the n best (output, score) pairs of each."""

    def __init__(
        self, task: TransductionTask, source: Tokenizer, target: Tokenizer, settings: SearchSettings
    ) -> None:
        self.task, self.source, self.target, self.settings = task, source, target, settings
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
        if s.beam_size <= 1:
            return [[h] for h in greedy_search(model, src, lengths, **limits)]
        return beam_search(
            model, src, lengths, s.beam_size, s.n_best, length_penalty=s.length_penalty,
            no_repeat_ngram_size=s.no_repeat_ngram_size, **limits,
        )  # fmt: skip

    @classmethod
    def from_checkpoint(cls, path: Path, device: str, settings: SearchSettings) -> Decoder:
        task, state = load_trained(path, device, "decode")
        assert isinstance(task, TransductionTask)  # load_trained refuses the kinds `decode` does not run
        source = tokenizer_from_state(state["tokenizer"])
        return cls(task, source, tokenizer_from_state(state["target_tokenizer"]), settings)


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


def _decode_file(run: Decoder, reading: DecodeInput, out: OutputFile, with_scores: bool) -> None:
    """Decode every line of ``reading.input`` (``-``: standard input) in batches, in order."""
    source = reading.input
    if source == "-":
        lines, name = sys.stdin.read().splitlines(), "<stdin>"
    else:
        lines, name = read_text_lines(source, "no lines", "one source per line"), str(source)

    def write_all(file: TextIO) -> None:
        for start, chunk in _batches(lines, reading.batch_size):
            where = [f"{name}:{start + i + 1}" for i in range(len(chunk))]
            for i, results in enumerate(run(chunk, where)):
                _write(file, start + i + 1, results, with_scores)

    out.write(write_all)


def decode(model: TrainedModel, reading: DecodeInput, search: SearchSettings, out: OutputFile) -> None:
    """Decode every input line with a trained encoder-decoder."""
    path = model.checkpoint("decode")
    if not reading.input and not reading.interactive:
        raise SystemExit("seqlab decode: give `--input FILE`, `--input -` or `--interactive true`")
    out.check([reading.input] if reading.input else [], path)
    run = Decoder.from_checkpoint(path, model.torch_device(), search)
    with_scores = reading.scores or search.n_best > 1
    with torch.inference_mode():
        if reading.interactive:
            _answer_interactively(run, with_scores)
        else:
            _decode_file(run, reading, out, with_scores)


def decode_main(argv: list[str]) -> None:
    groups = (TrainedModel, DecodeInput, SearchSettings, OutputFile)
    decode(*parse_verb_options("decode", decode.__doc__ or "", argv, groups))
