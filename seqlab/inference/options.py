"""The command lines of the inference verbs (``generate``, ``predict``, ``decode``, ``transcribe``):
every option declared once, the one way they are parsed, and each verb's ``*_main``.

A verb's options are dataclasses whose fields are its flags, flat (``--beam_size``, not
``--search.beam_size``), so a setting is declared, typed and documented in one place and reaches the
code as one typed object instead of a loose dict or a long argument list.

Nothing heavy is imported here: ``seqlab decode --help`` and a misspelt option answer without torch;
a verb's module (``seqlab.inference.decode``) is imported only once its arguments are parsed.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

from seqlab.engine.errors import UserError
from seqlab.engine.outputs import check_output, write_output
from seqlab.engine.run_dir import checkpoint_path


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """The trained model a verb runs, and the device it runs on.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    ckpt_path: str | None = None
    run_name: str | None = None
    root_dir: str = "runs"
    device: str = "auto"

    def checkpoint(self, verb: str) -> Path:
        """The checkpoint file meant (``seqlab <verb>: ...`` when there is none)."""
        return checkpoint_path(self.ckpt_path, self.run_name, self.root_dir, verb)

    def torch_device(self) -> str:
        """``device``, with ``auto`` meaning ``cuda`` where there is a GPU, else ``cpu``."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


@dataclasses.dataclass(frozen=True)
class Backend:
    """What runs the model.

    Args:
        backend: ``torch`` (a checkpoint, or an export folder of format ``torch-export``) or
            ``onnxruntime`` (an export folder of format ``onnx``, given as ``--ckpt_path DIR``).
    """

    backend: Literal["torch", "onnxruntime"] = "torch"

    def export_folder(self, model: TrainedModel, verb: str) -> Path | None:
        """The export folder ``model.ckpt_path`` names, or ``None`` for a checkpoint (which only
        ``--backend torch`` runs). A folder with graphs but no readable manifest is refused here."""
        from seqlab.inference.export.bundle import SUFFIX, ExportError, read_bundle

        given = Path(model.ckpt_path) if model.ckpt_path and model.ckpt_path != "last" else None
        folder = given is not None and given.is_dir()
        looks_exported = folder and any(
            any(given.glob(pattern)) for pattern in ("manifest.json", *(f"*{s}" for s in SUFFIX.values()))
        )
        if looks_exported or (folder and self.backend != "torch"):
            read_bundle(given)  # type: ignore[arg-type]  (an ExportError unless it is one)
            return given
        if self.backend != "torch" and given is not None and not given.exists():
            raise ExportError(f"{given} does not exist (--backend {self.backend} runs an export folder)")
        if self.backend != "torch":
            raise ExportError(
                f"--backend {self.backend} runs an export folder (seqlab export); "
                f"{model.ckpt_path} is a checkpoint: give the folder, or --backend torch"
            )
        return None


@dataclasses.dataclass(frozen=True)
class OutputFile:
    """Where a verb writes its results.

    Args:
        output: where to write (default: standard output).
        overwrite: let ``output`` replace an existing file (never an input, a file an input lists, or
            the checkpoint).
    """

    output: str | None = None
    overwrite: bool = False

    def check(self, inputs: Iterable[str], checkpoint: Path) -> None:
        """Refuse, before any model is loaded, an ``output`` that would destroy something."""
        check_output(self.output, inputs, checkpoint, self.overwrite)

    def write(self, write: Callable[[TextIO], object]) -> None:
        """Write through ``write(file)``, atomically to ``output`` or to standard output."""
        write_output(self.output, write)


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """What ``seqlab generate`` samples.

    Args:
        prompt: text to continue.
        max_new_tokens: tokens to sample after the prompt.
        temperature: softmax temperature; 0 is greedy.
        top_k: sample only among the k most likely tokens.
        top_p: sample only from the smallest set of tokens with this much probability (nucleus).
        seed: random seed for reproducible samples.
        num_samples: independent samples to draw.
    """

    prompt: str = "\n"
    max_new_tokens: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    num_samples: int = 1


InputFormat = Literal["auto", "text", "csv", "tsv", "jsonl", "conll", "conllu"]


@dataclasses.dataclass(frozen=True)
class PredictInput:
    """What ``seqlab predict`` reads, and where a tagger's tags go.

    Args:
        input: the file to read (``-``: standard input, as text).
        format: ``auto`` (by suffix and content), ``text``, ``csv``, ``tsv``, ``jsonl`` (classifiers),
            ``conll`` or ``conllu`` (taggers).
        column: classifiers: the text column of a CSV/TSV/JSON Lines file (default ``sentence`` or
            ``text``).
        tag_field: taggers on CoNLL-U: write tags into ``upos`` or ``xpos``.
        tag_column: taggers on CoNLL column files: the column the tags go into (0-based, negative
            from the end); a file with only a token column gets a tag column appended.
        batch_size: examples per forward pass.
    """

    input: str | None = None
    format: InputFormat = "auto"
    column: str | None = None
    tag_field: Literal["upos", "xpos"] = "upos"
    tag_column: int = -1
    batch_size: int = 64

    def format_to_read(self) -> InputFormat:
        """``format``, except that standard input with ``auto`` is read as text (it has no suffix)."""
        return "text" if self.input == "-" and self.format == "auto" else self.format


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

    def length_limits(self, task: Any) -> dict[str, int | float | None]:
        """``max_len``, ``max_len_ratio`` (those of ``task``, a TransductionTask, where not given) and
        ``min_len``, as the searches take them."""
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


@dataclasses.dataclass(frozen=True)
class TranscribeSettings:
    """What ``seqlab transcribe`` reads and how it searches.

    Args:
        input: audio files (WAV/FLAC: ``--input a.wav b.flac``) or one JSON Lines manifest (``.jsonl``,
            its ``audio`` paths are transcribed; ``text`` is ignored).
        beam_size: CTC prefix beam search width (1: greedy).
        prune: in beam search, skip labels below this log-probability at a frame (``null``: none).
        word_list: with beam search, prefer known words: a file with one word per line or
            ``wordfreq:en:50000``.
        word_list_penalty: log-score added for leaving the word list.
        batch_size: files transcribed together.
    """

    input: list[str] | None = None
    beam_size: int = 1
    prune: float | None = math.log(1e-3)
    word_list: str | None = None
    word_list_penalty: float = -6.0
    batch_size: int = 16


def parse_verb_options(
    verb: str, description: str, argv: list[str], groups: Sequence[type], several: Collection[str] = ()
) -> list[Any]:
    """One instance of each dataclass in ``groups``, from ``argv`` (``--field value``, or a YAML
    ``--config``); a field named in ``several`` takes every value up to the next flag
    (``--input a.wav b.wav``). A bad flag or value is a :class:`UserError` of one line naming it (and
    the nearest valid flag), as ``seqlab fit`` says it (``engine.config_keys.explain``)."""
    from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser

    from seqlab.engine.config_keys import explain

    parser = ArgumentParser(
        prog=f"seqlab {verb}", description=description, exit_on_error=False, allow_abbrev=False
    )  # no abbreviations, as `seqlab fit`: `--temperatur` is a typo to name, not `--temperature`
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these options")
    for group in groups:
        names = {field.name for field in dataclasses.fields(group)}
        parser.add_class_arguments(group, nested_key=None, skip=set(several) & names)
        for name in sorted(set(several) & names):
            parser.add_argument(f"--{name}", nargs="+", type=str, help=_field_help(group, name))
    try:
        config = parser.parse_args(argv)
    except ArgumentError as err:
        raise UserError(explain(err, parser, argv, verb)) from None
    return [group(**{f.name: config[f.name] for f in dataclasses.fields(group)}) for group in groups]


def run_verb(
    verb: str, description: str, argv: list[str], groups: Sequence[type], several: Collection[str] = ()
) -> None:
    """Parse ``argv`` into ``groups``, then import ``seqlab.<verb>`` (torch, Lightning) and call its
    ``<verb>`` function with them: imported by name, as the cli imports verbs, since that module
    takes its options from here."""
    options = parse_verb_options(verb, description, argv, groups, several)
    getattr(importlib.import_module(f"seqlab.inference.{verb}"), verb)(*options)


def generate_main(argv: list[str]) -> None:
    """``seqlab generate``: print samples of a trained language model."""
    run_verb("generate", "Sample text from a trained language model.", argv, (TrainedModel, SampleSettings))


def predict_main(argv: list[str]) -> None:
    """``seqlab predict``."""
    groups = (TrainedModel, PredictInput, OutputFile)
    description = "Predict labels (a classifier) or tags (a tagger) for every example in a file."
    run_verb("predict", description, argv, groups)


def decode_main(argv: list[str]) -> None:
    """``seqlab decode``."""
    groups = (TrainedModel, Backend, DecodeInput, SearchSettings, OutputFile)
    run_verb("decode", "Decode every input line with a trained encoder-decoder.", argv, groups)


def transcribe_main(argv: list[str]) -> None:
    """``seqlab transcribe``."""
    groups = (TrainedModel, TranscribeSettings, OutputFile)
    description = "Transcribe audio files with a trained CTC model; writes path<TAB>transcript per file."
    run_verb("transcribe", description, argv, groups, several={"input"})


def _field_help(group: type, name: str) -> str | None:
    """The ``Args:`` line of ``group``'s docstring for ``name`` (what jsonargparse shows for the others)."""
    from docstring_parser import parse

    return next((p.description for p in parse(group.__doc__ or "").params if p.arg_name == name), None)
