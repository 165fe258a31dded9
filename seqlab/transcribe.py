"""``seqlab transcribe``: run a trained CTC speech recognizer over audio files (WAV/FLAC, or the files a
JSON Lines manifest lists) and write one ``path<TAB>transcript`` line per file, in input order.

The checkpoint alone is enough: the DataModule saved its alphabet and feature settings into it, so the
features here are computed exactly as in training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TextIO

import torch

from seqlab.data.errors import DataError
from seqlab.data.formats.speech_manifest import manifest_audio_paths
from seqlab.data.modules.speech_features import FeatureSettings, features_for_files
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.engine.checkpoints import CheckpointError
from seqlab.engine.outputs import check_output, write_output
from seqlab.engine.run_dir import checkpoint_path
from seqlab.loading import load_trained
from seqlab.nn.word_list import WordListScorer
from seqlab.tasks.speech import SpeechRecognitionTask


class Transcriber:
    """A loaded recognizer with its alphabet and feature settings; ``__call__`` transcribes files."""

    def __init__(
        self, task: SpeechRecognitionTask, alphabet: Alphabet, settings: FeatureSettings, beam_size: int = 1
    ) -> None:
        self.task, self.alphabet, self.settings, self.beam_size = task, alphabet, settings, beam_size
        self.scorer: WordListScorer | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", beam_size: int = 1) -> Transcriber:
        task, state = load_trained(path, device, "transcribe")
        assert isinstance(task, SpeechRecognitionTask)  # load_trained refuses the other kinds
        if "features" not in state:
            raise CheckpointError(f"{path} holds no feature settings (was it written by SpeechData?)")
        alphabet = Alphabet.from_state(state["tokenizer"])
        return cls(task, alphabet, FeatureSettings.from_state(state["features"]), beam_size)

    def __call__(self, paths: list[str]) -> list[str]:
        feats = features_for_files(paths, self.settings)
        device = self.task.device
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long, device=device)
        batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
        log_probs, out_lengths = self.task(batch, lengths)
        ids = self.task.decode(log_probs, out_lengths, self.beam_size, self.scorer)
        return [self.alphabet.detokenize(i) for i in ids]


def transcribe(
    ckpt_path: str | None = None,
    input: list[str] | None = None,
    output: str | None = None,
    beam_size: int = 1,
    prune: float | None = math.log(1e-3),
    word_list: str | None = None,
    word_list_penalty: float = -6.0,
    batch_size: int = 16,
    run_name: str | None = None,
    root_dir: str = "runs",
    device: str = "auto",
    overwrite: bool = False,
) -> None:
    """Transcribe audio files with a trained CTC model; writes ``path<TAB>transcript`` per file.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        input: audio files (WAV/FLAC: ``--input a.wav b.flac``) or one JSON Lines manifest (``.jsonl``,
            its ``audio`` paths are transcribed; ``text`` is ignored).
        output: where to write (default: standard output).
        beam_size: CTC prefix beam search width (1: greedy).
        prune: in beam search, skip labels below this log-probability at a frame (``null``: none).
        word_list: with beam search, prefer known words: a file with one word per line or
            ``wordfreq:en:50000``.
        word_list_penalty: log-score added for leaving the word list.
        batch_size: files transcribed together.
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        overwrite: let ``output`` replace an existing file (never an input, a listed audio file or the
            checkpoint).
    """
    path = checkpoint_path(ckpt_path, run_name, root_dir, "transcribe")
    if not input:
        raise SystemExit(
            "seqlab transcribe: give `--input FILE.wav [FILE.wav ...]` or `--input MANIFEST.jsonl`"
        )
    if len(input) == 1 and input[0].endswith(".jsonl"):
        paths = manifest_audio_paths(input[0])
    else:
        paths = [str(p) for p in input]
        for p in paths:
            if not Path(p).is_file():
                raise DataError(f"{p}: no such audio file (expected a WAV/FLAC file)")
    check_output(output, [*input, *paths], path, overwrite)  # the manifest and the audio it lists
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    run = Transcriber.from_checkpoint(path, device, beam_size)
    run.task.eval_prune = prune
    if word_list is not None:
        if beam_size <= 1:
            raise SystemExit("seqlab transcribe: --word_list needs --beam_size of 2 or more")
        run.task.word_list, run.task.word_list_penalty = word_list, word_list_penalty
        run.scorer = run.task.word_list_scorer(run.alphabet)

    def write_all(out: TextIO) -> None:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            for file, text in zip(chunk, run(chunk), strict=True):
                out.write(f"{file}\t{text}\n")

    with torch.inference_mode():
        write_output(output, write_all)


def gather_inputs(argv: list[str]) -> list[str]:
    """``--input a.wav b.wav`` (the values up to the next ``--option``) as jsonargparse's list form."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--input":
            end = i + 1
            while end < len(argv) and not argv[end].startswith("--"):
                end += 1
            out.append("--input=" + json.dumps(argv[i + 1 : end]))
            i = end
            continue
        if arg.startswith("--input=") and not arg[len("--input=") :].startswith("["):
            arg = "--input=" + json.dumps([arg[len("--input=") :]])
        out.append(arg)
        i += 1
    return out


def transcribe_main(argv: list[str]) -> None:
    from jsonargparse import auto_cli

    auto_cli(transcribe, args=gather_inputs(argv))
