"""``seqlab decode``: run a trained encoder-decoder over input lines (a file, standard input, or
interactively line by line) with greedy, beam or sampled decoding."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

import torch

from seqlab.data.formats.text_files import read_text_lines
from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import detokenize_target, encode_source
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.outputs import check_output, write_output
from seqlab.engine.run_dir import checkpoint_path
from seqlab.loading import load_trained
from seqlab.nn.search import Hypothesis, beam_search, greedy_search, sample_search
from seqlab.tasks.transduction import TransductionTask


class Decoder:
    """A loaded model with its tokenizers and decoding settings; ``__call__`` decodes a list of lines
    into the n best (output, score) pairs of each."""

    def __init__(self, task: TransductionTask, source: Tokenizer, target: Tokenizer, settings: dict) -> None:
        self.task, self.source, self.target, self.settings = task, source, target, settings

    def __call__(self, lines: list[str], where: Iterable[str]) -> list[list[tuple[str, float]]]:
        ids = [encode_source(self.source, line, w) for line, w in zip(lines, where, strict=True)]
        device = self.task.device
        src = pad(ids).to(device)
        lengths = torch.tensor([len(i) for i in ids], dtype=torch.long, device=device)
        s = self.settings
        limits = {"max_len": s["max_len"], "max_len_ratio": s["max_len_ratio"], "min_len": s["min_len"]}
        model = self.task.model
        if s["sample"]:
            found: list[list[Hypothesis]] = [
                [h]
                for h in sample_search(
                    model,
                    src,
                    lengths,
                    temperature=s["temperature"],
                    top_k=s["top_k"],
                    top_p=s["top_p"],
                    generator=s["generator"],
                    **limits,
                )
            ]
        elif s["beam_size"] <= 1:
            found = [[h] for h in greedy_search(model, src, lengths, **limits)]
        else:
            found = beam_search(
                model,
                src,
                lengths,
                beam_size=s["beam_size"],
                n_best=s["n_best"],
                length_penalty=s["length_penalty"],
                no_repeat_ngram_size=s["no_repeat_ngram_size"],
                **limits,
            )
        return [[(detokenize_target(self.target, h.tokens), h.score) for h in hyps] for hyps in found]


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


def decode(
    ckpt_path: str | None = None,
    input: str | None = None,
    output: str | None = None,
    beam_size: int = 1,
    n_best: int = 1,
    length_penalty: float = 0.0,
    max_len: int | None = None,
    max_len_ratio: float | None = None,
    min_len: int = 0,
    no_repeat_ngram_size: int = 0,
    sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    scores: bool = False,
    interactive: bool = False,
    batch_size: int = 64,
    run_name: str | None = None,
    root_dir: str = "runs",
    device: str = "auto",
    overwrite: bool = False,
) -> None:
    """Decode every input line with a trained encoder-decoder.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        input: a file with one source per line, or ``-`` for standard input.
        output: where to write (default: standard output).
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
        scores: write ``line<TAB>score<TAB>output`` lines (line numbers from 1).
        interactive: read standard input line by line and answer each line at once.
        batch_size: sources decoded together.
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        overwrite: let ``output`` replace an existing file (never the input or the checkpoint).
    """
    path = checkpoint_path(ckpt_path, run_name, root_dir, "decode")
    if not input and not interactive:
        raise SystemExit("seqlab decode: give `--input FILE`, `--input -` or `--interactive true`")
    check_output(output, [input] if input else [], path, overwrite)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    task, state = load_trained(path, device, "decode")
    assert isinstance(task, TransductionTask)  # load_trained refuses the kinds `decode` does not run
    max_len = task.max_decode_length if max_len is None else max_len
    max_len_ratio = task.max_decode_ratio if max_len_ratio is None else max_len_ratio
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    settings = {
        "beam_size": beam_size, "n_best": n_best if beam_size > 1 else 1, "length_penalty": length_penalty,
        "max_len": max_len, "max_len_ratio": max_len_ratio, "min_len": min_len,
        "no_repeat_ngram_size": no_repeat_ngram_size, "sample": sample, "temperature": temperature,
        "top_k": top_k, "top_p": top_p, "generator": generator,
    }  # fmt: skip
    run = Decoder(
        task,
        tokenizer_from_state(state["tokenizer"]),
        tokenizer_from_state(state["target_tokenizer"]),
        settings,
    )
    with_scores = scores or n_best > 1
    with torch.inference_mode():
        if interactive:
            for number, line in enumerate(sys.stdin, 1):
                text = line.rstrip("\n")
                if text.strip():
                    _write(sys.stdout, number, run([text], [f"<stdin>:{number}"])[0], with_scores)
                    sys.stdout.flush()
            return
        lines = (
            sys.stdin.read().splitlines()
            if input == "-"
            else read_text_lines(input, "no lines", "one source per line")
        )
        name = "<stdin>" if input == "-" else str(input)

        def write_all(out: TextIO) -> None:
            for start, chunk in _batches(lines, batch_size):
                where = [f"{name}:{start + i + 1}" for i in range(len(chunk))]
                for i, results in enumerate(run(chunk, where)):
                    _write(out, start + i + 1, results, with_scores)

        write_output(output, write_all)


def decode_main(argv: list[str]) -> None:
    from jsonargparse import auto_cli

    auto_cli(decode, args=argv)
