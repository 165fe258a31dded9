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
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from seqlab.engine.errors import UserError
from seqlab.engine.outputs import check_output, write_output
from seqlab.engine.run_dir import checkpoint_path


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """The trained model a verb runs.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
    """

    ckpt_path: str | None = None
    run_name: str | None = None
    root_dir: str = "runs"

    def checkpoint(self, verb: str) -> Path:
        """The checkpoint file meant (``seqlab <verb>: ...`` when there is none)."""
        return checkpoint_path(self.ckpt_path, self.run_name, self.root_dir, verb)


Precision = Literal["fp32", "bf16", "int8"]
Backend = Literal["auto", "torch", "onnxruntime"]


Range = tuple[Callable[[Any], bool], str]
AT_LEAST_1: Range = (lambda v: v >= 1, "a whole number of 1 or more")
AT_LEAST_0: Range = (lambda v: v >= 0, "a number of 0 or more")
ABOVE_0: Range = (lambda v: v > 0, "a number above 0")
SHARE: Range = (lambda v: 0 < v <= 1, "a number above 0 and at most 1")
LOG_PROBABILITY: Range = (lambda v: v <= 0, "a log-probability (0 or below)")
SAMPLING_RANGES: dict[str, Range] = {"temperature": AT_LEAST_0, "top_k": AT_LEAST_1, "top_p": SHARE}
"""The sampling flags ``generate`` and ``decode --sample`` share, and the values each accepts."""


def refuse_out_of_range(settings: Any, **ranges: Range) -> None:
    """A :class:`UserError` naming the first given flag of ``settings`` outside its range (before any
    model is loaded: the searches would otherwise fail deep inside with a traceback, or quietly run
    greedy on a beam of 0)."""
    for name, (within, expected) in ranges.items():
        value = getattr(settings, name)
        if value is not None and not within(value):
            raise UserError(f"--{name}: expected {expected}, got {value}")


@dataclasses.dataclass(frozen=True)
class Runtime:
    """How every inference verb runs its model (one declaration for all four; applied in
    ``inference.loader.load_for_verb`` and ``inference.precision``).

    Args:
        device: ``auto`` (``cuda`` where there is a GPU, else ``cpu``), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32``; ``bf16`` (autocast; on some CPUs slower than fp32: measure with
            benchmarks/decode_speed.py); ``int8`` (dynamic quantization of the Linear and LSTM
            layers; CPU only).
        threads: torch threads on the CPU (default: torch's choice, one per core).
        batch_size: inputs run together (default: the verb's own: 64 texts or lines, 16 audio
            files, all samples at once).
        backend: what runs an export folder (``seqlab export``): ``onnxruntime`` its ONNX graphs,
            ``torch`` its torch.export programs; ``auto``: the one its format needs (a checkpoint
            always runs in PyTorch).
    """

    device: str = "auto"
    precision: Precision = "fp32"
    threads: int | None = None
    batch_size: int | None = None
    backend: Backend = "auto"

    def __post_init__(self) -> None:
        refuse_out_of_range(self, threads=AT_LEAST_1, batch_size=AT_LEAST_1)

    def torch_device(self) -> str:
        """``device``, with ``auto`` meaning ``cuda`` where there is a GPU, else ``cpu`` (not yet checked
        to exist here: see :func:`usable_device`)."""
        import torch

        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def batch(self, default: int) -> int:
        """``batch_size``, or the verb's ``default`` where none was given."""
        return default if self.batch_size is None else self.batch_size


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

    def __post_init__(self) -> None:
        refuse_out_of_range(
            self,
            max_new_tokens=AT_LEAST_1,
            num_samples=AT_LEAST_1,
            **SAMPLING_RANGES,
        )
        if not self.prompt:
            raise UserError("--prompt: expected at least one character to continue, got ''")


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
    """

    input: str | None = None
    format: InputFormat = "auto"
    column: str | None = None
    tag_field: Literal["upos", "xpos"] = "upos"
    tag_column: int = -1

    def format_to_read(self) -> InputFormat:
        """``format``, except that standard input with ``auto`` is read as text (it has no suffix)."""
        return "text" if self.input == "-" and self.format == "auto" else self.format


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """How ``seqlab decode`` searches: greedy, beam or sampling, and the length rules all of them keep.

    ``beam_size``, ``length_penalty``, ``max_len`` and ``max_len_ratio`` default to the settings the
    checkpoint was evaluated with (its ``eval_beam_size``, ``length_penalty``, ``max_decode_length``,
    ``max_decode_ratio``): see :func:`as_evaluated`.

    Args:
        beam_size: beam width (1: greedy; default: the checkpoint's ``eval_beam_size``).
        n_best: hypotheses written per input (beam search; implies ``scores``).
        length_penalty: GNMT length penalty alpha (0: none; default: the checkpoint's).
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

    beam_size: int | None = None
    n_best: int = 1
    length_penalty: float | None = None
    max_len: int | None = None
    max_len_ratio: float | None = None
    min_len: int = 0
    no_repeat_ngram_size: int = 0
    sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        refuse_out_of_range(
            self,
            beam_size=AT_LEAST_1,
            n_best=AT_LEAST_1,
            max_len=AT_LEAST_1,
            max_len_ratio=ABOVE_0,
            min_len=AT_LEAST_0,
            no_repeat_ngram_size=AT_LEAST_0,
            **SAMPLING_RANGES,
        )

    def evaluated(self, task: Any) -> dict[str, Any]:
        """What ``task`` (a TransductionTask) was evaluated with, under these settings' names."""
        return {
            "beam_size": task.eval_beam_size,
            "length_penalty": task.length_penalty,
            "max_len": task.max_decode_length,
            "max_len_ratio": task.max_decode_ratio,
        }

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
    """

    input: str | None = None
    interactive: bool = False
    scores: bool = False


@dataclasses.dataclass(frozen=True)
class TranscribeSettings:
    """What ``seqlab transcribe`` reads and how it searches.

    Args:
        input: audio files (WAV/FLAC: ``--input a.wav b.flac``), folders of them (the ``.wav`` and
            ``.flac`` files directly inside, by name) or one manifest as training reads
            them (``.jsonl``, or a ``.tsv``/``.csv`` table with an ``audio`` or ``path`` column): its
            audio files are transcribed; a transcript column is not needed and is ignored.
        beam_size: CTC prefix beam search width (1: greedy; default: the checkpoint's
            ``eval_beam_size``).
        prune: in beam search, skip labels below this log-probability at a frame (``null``: none).
        word_list: with beam search, prefer known words: a file with one word per line or
            ``wordfreq:en:50000`` (default: the checkpoint's, with beam search; ``off``: none).
        word_list_penalty: log-score added for leaving the word list (default: the checkpoint's).
    """

    input: list[str] | None = None
    beam_size: int | None = None
    prune: float | None = math.log(1e-3)
    word_list: str | None = None
    word_list_penalty: float | None = None

    def __post_init__(self) -> None:
        refuse_out_of_range(self, beam_size=AT_LEAST_1, prune=LOG_PROBABILITY)

    def evaluated(self, task: Any) -> dict[str, Any]:
        """What ``task`` (a SpeechRecognitionTask) was evaluated with, under these settings' names:
        its beam size, and its word list where the beam size used is above 1."""
        beam_size = task.eval_beam_size if self.beam_size is None else self.beam_size
        if beam_size <= 1:
            return {"beam_size": task.eval_beam_size}
        return {
            "beam_size": task.eval_beam_size,
            "word_list": task.word_list,
            "word_list_penalty": task.word_list_penalty,
        }


Settings = TypeVar("Settings", SearchSettings, TranscribeSettings)


def as_evaluated(verb: str, settings: Settings, evaluated: dict[str, Any]) -> Settings:
    """``settings`` with each field of ``evaluated`` that was not given (``None``) set to the value the
    checkpoint was evaluated with, so that a verb decodes as validation did unless told otherwise;
    says on stderr, in one line, which values it uses and where each came from."""
    given = [name for name in evaluated if getattr(settings, name) is not None]
    taken = {name: value for name, value in evaluated.items() if name not in given}
    parts = []
    if given:
        parts.append(", ".join(f"{name} {_shown(getattr(settings, name))}" for name in given) + " (given)")
    if taken:
        values = ", ".join(f"{name} {_shown(value)}" for name, value in taken.items())
        parts.append(f"as the checkpoint was evaluated: {values} (flags override)")
    print(f"seqlab {verb}: {'; '.join(parts)}", file=sys.stderr)
    return dataclasses.replace(settings, **taken)


def _shown(value: Any) -> str:
    """A setting as it would be written on the command line (``None`` as ``null``)."""
    return "null" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """What ``seqlab export`` writes.

    Args:
        format: ``onnx`` (run by ONNX Runtime) or ``torch-export`` (``torch.export`` programs, run by
            PyTorch without seqlab's model code).
        output: the export folder to write (graphs, ``manifest.json``, ``data_state.json``).
        overwrite: replace an existing export folder (never any other folder).
    """

    format: Literal["onnx", "torch-export"] = "onnx"
    output: str | None = None
    overwrite: bool = False


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
    run_verb(
        "generate",
        "Sample text from a trained language model.",
        argv,
        (TrainedModel, Runtime, SampleSettings),
    )


def predict_main(argv: list[str]) -> None:
    """``seqlab predict``."""
    groups = (TrainedModel, Runtime, PredictInput, OutputFile)
    description = "Predict labels (a classifier) or tags (a tagger) for every example in a file."
    run_verb("predict", description, argv, groups)


def decode_main(argv: list[str]) -> None:
    """``seqlab decode``."""
    groups = (TrainedModel, Runtime, DecodeInput, SearchSettings, OutputFile)
    run_verb("decode", "Decode every input line with a trained encoder-decoder.", argv, groups)


def transcribe_main(argv: list[str]) -> None:
    """``seqlab transcribe``."""
    groups = (TrainedModel, Runtime, TranscribeSettings, OutputFile)
    description = "Transcribe audio files with a trained CTC model; writes path<TAB>transcript per file."
    run_verb("transcribe", description, argv, groups, several={"input"})


def export_main(argv: list[str]) -> None:
    """``seqlab export``."""
    description = "Export a trained model's graphs (ONNX or torch.export) with its data state into a folder."
    options = parse_verb_options("export", description, argv, (TrainedModel, ExportSettings))
    importlib.import_module("seqlab.inference.export.verb").export(*options)


def _field_help(group: type, name: str) -> str | None:
    """The ``Args:`` line of ``group``'s docstring for ``name`` (what jsonargparse shows for the others)."""
    from docstring_parser import parse

    return next((p.description for p in parse(group.__doc__ or "").params if p.arg_name == name), None)


def usable_device(name: str) -> str:
    """``name`` if it is ``cpu`` or a CUDA GPU this machine has; otherwise a UserError that says why."""
    import torch

    expected = f"--device: expected auto, cpu, cuda or cuda:N, got {name!r}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(expected) from None
    if device.type == "cpu":
        return name
    if device.type != "cuda":
        raise UserError(expected)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise UserError(
            f"--device {name}: no CUDA GPU is visible here (torch {torch.__version__}, {build}); use "
            "--device cpu, or auto to take a GPU where there is one"
        )
    if device.index is not None and device.index >= count:
        raise UserError(f"--device {name}: this machine has {count} CUDA GPU(s), numbered 0..{count - 1}")
    return name
