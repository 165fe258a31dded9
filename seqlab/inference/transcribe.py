"""``seqlab transcribe``: run a trained CTC speech recognizer over audio files (WAV/FLAC, or the files a
manifest lists) and write one ``path<TAB>transcript`` line per file, in input order.

The checkpoint alone is enough: the DataModule saved its alphabet and feature settings into it, so the
features here are computed exactly as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import torch

from seqlab.data.errors import DataError
from seqlab.data.formats.speech_manifest import MANIFEST_SUFFIXES, manifest_audio_paths
from seqlab.data.modules.speech_features import FeatureSettings, features_for_files
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.engine.errors import UserError
from seqlab.inference.loader import Trained, load_for_verb, model_path
from seqlab.inference.options import OutputFile, Runtime, TrainedModel, TranscribeSettings, as_evaluated
from seqlab.nn.word_list import WordListScorer


class Transcriber:
    """A loaded recognizer with its alphabet and feature settings; ``__call__`` transcribes files."""

    def __init__(
        self,
        task: Any,  # a SpeechRecognitionTask, or an export folder's ExportedRecognizer
        alphabet: Alphabet,
        settings: FeatureSettings,
        beam_size: int = 1,
    ) -> None:
        self.task, self.alphabet, self.settings, self.beam_size = task, alphabet, settings, beam_size
        self.scorer: WordListScorer | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, runtime: Runtime | None = None, beam_size: int = 1
    ) -> Transcriber:
        """The checkpoint's recognizer, loaded as :func:`load_for_verb` loads it for ``runtime``
        (default: fp32 on the CPU)."""
        return cls.from_trained(
            load_for_verb(path, "transcribe", runtime or Runtime(device="cpu")), beam_size
        )

    @classmethod
    def from_trained(cls, trained: Trained, beam_size: int = 1) -> Transcriber:
        task, alphabet, features = trained.task, trained.alphabet, trained.features
        assert alphabet is not None and features is not None  # a recognizer's (checkpoint or export)
        return cls(task, alphabet, features, beam_size)

    def __call__(self, paths: list[str]) -> list[str]:
        feats = features_for_files(paths, self.settings)
        device = self.task.device
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long, device=device)
        batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
        log_probs, out_lengths = self.task(batch, lengths)
        ids = self.task.decode(log_probs.float(), out_lengths, self.beam_size, self.scorer)  # bf16 too
        return [self.alphabet.detokenize(i) for i in ids]


AUDIO_SUFFIXES = (".wav", ".flac")


def audio_paths(inputs: list[str] | None) -> list[str]:
    """The audio files to transcribe: the files given (a folder: its WAV and FLAC files, by name), or
    the ones a single manifest lists (JSON Lines, TSV or CSV, as training reads them)."""
    if not inputs:
        raise SystemExit(
            "seqlab transcribe: give `--input FILE.wav [FILE.wav ...]`, a folder of them or one manifest "
            "(`--input MANIFEST.jsonl`, `.tsv` or `.csv`)"
        )
    if len(inputs) == 1 and inputs[0].lower().endswith(MANIFEST_SUFFIXES):
        return manifest_audio_paths(inputs[0])
    paths = []
    for path in inputs:
        if Path(path).is_dir():
            paths += _folder_audio(Path(path))
        elif Path(path).is_file():
            paths.append(path)
        else:
            raise DataError(f"{path}: no such audio file (expected a WAV/FLAC file)")
    return paths


def _folder_audio(folder: Path) -> list[str]:
    """The WAV and FLAC files directly in ``folder``, sorted by name (not its subfolders)."""
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not found:
        raise DataError(f"{folder}: a folder without .wav or .flac files (its subfolders are not read)")
    return [str(p) for p in found]


def _load(trained: Trained, settings: TranscribeSettings) -> Transcriber:
    """The transcriber, with the beam size, pruning and (for beam search) word list asked for, or
    else those the checkpoint was evaluated with (:func:`as_evaluated`)."""
    task = trained.task
    settings = as_evaluated("transcribe", settings, settings.evaluated(task))
    beam_size = settings.beam_size or 1
    word_list = None if settings.word_list == "off" else settings.word_list
    if word_list is not None and beam_size <= 1:
        raise UserError("--word_list: needs --beam_size of 2 or more (the word list biases the beam search)")
    run = Transcriber.from_trained(trained, beam_size)
    task.eval_prune, task.word_list = settings.prune, word_list
    if word_list is not None and settings.word_list_penalty is not None:
        task.word_list_penalty = settings.word_list_penalty
        run.scorer = task.word_list_scorer(run.alphabet)
    return run


def transcribe(model: TrainedModel, runtime: Runtime, settings: TranscribeSettings, out: OutputFile) -> None:
    """Transcribe audio files with a trained CTC model; writes ``path<TAB>transcript`` per file."""
    path = model_path(model, "transcribe", runtime)
    paths = audio_paths(settings.input)
    out.check([*(settings.input or []), *paths], path)  # the manifest and the audio it lists
    trained = load_for_verb(path, "transcribe", runtime)
    run, size = _load(trained, settings), runtime.batch(16)

    def write_all(file: TextIO) -> None:
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            for audio, text in zip(chunk, run(chunk), strict=True):
                file.write(f"{audio}\t{text}\n")

    with trained.running():
        out.write(write_all)
