"""``seqlab transcribe``: run a trained CTC speech recognizer over audio files (WAV/FLAC, or the files a
JSON Lines manifest lists) and write one ``path<TAB>transcript`` line per file, in input order.

The checkpoint alone is enough: the DataModule saved its alphabet and feature settings into it, so the
features here are computed exactly as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import torch

from seqlab.data.errors import DataError
from seqlab.data.formats.speech_manifest import manifest_audio_paths
from seqlab.data.modules.speech_features import FeatureSettings, features_for_files
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.engine.checkpoints import CheckpointError
from seqlab.inference.export.bundle import MANIFEST, Bundle
from seqlab.inference.export.runtime import ExportedRecognizer, open_export
from seqlab.inference.loader import load_trained
from seqlab.inference.options import Backend, OutputFile, TrainedModel, TranscribeSettings
from seqlab.nn.word_list import WordListScorer
from seqlab.tasks.speech import SpeechRecognitionTask


class Transcriber:
    """A loaded recognizer with its alphabet and feature settings; ``__call__`` transcribes files."""

    def __init__(
        self,
        task: SpeechRecognitionTask | ExportedRecognizer,
        alphabet: Alphabet,
        settings: FeatureSettings,
        beam_size: int = 1,
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

    @classmethod
    def from_export(cls, bundle: Bundle, backend: Backend, beam_size: int = 1) -> Transcriber:
        """The recognizer of an export folder, its graph run by ``backend``."""
        state = bundle.data_state
        settings = FeatureSettings.from_state(state["features"])
        return cls(
            ExportedRecognizer(bundle, backend.backend),
            Alphabet.from_state(state["tokenizer"]),
            settings,
            beam_size,
        )

    def __call__(self, paths: list[str]) -> list[str]:
        feats = features_for_files(paths, self.settings)
        device = self.task.device
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long, device=device)
        batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
        log_probs, out_lengths = self.task(batch, lengths)
        ids = self.task.decode(log_probs, out_lengths, self.beam_size, self.scorer)
        return [self.alphabet.detokenize(i) for i in ids]


def audio_paths(inputs: list[str] | None) -> list[str]:
    """The audio files to transcribe: the files given, or the ones a single ``.jsonl`` manifest lists."""
    if not inputs:
        raise SystemExit(
            "seqlab transcribe: give `--input FILE.wav [FILE.wav ...]` or `--input MANIFEST.jsonl`"
        )
    if len(inputs) == 1 and inputs[0].endswith(".jsonl"):
        return manifest_audio_paths(inputs[0])
    for path in inputs:
        if not Path(path).is_file():
            raise DataError(f"{path}: no such audio file (expected a WAV/FLAC file)")
    return list(inputs)


def _load(
    path: Path, device: str, settings: TranscribeSettings, bundle: Bundle | None, backend: Backend
) -> Transcriber:
    """The transcriber (of the checkpoint, or of the export ``bundle``), with the pruning and (for beam
    search) the word list asked for."""
    if settings.word_list is not None and settings.beam_size <= 1:
        raise SystemExit("seqlab transcribe: --word_list needs --beam_size of 2 or more")
    if bundle is None:
        run = Transcriber.from_checkpoint(path, device, settings.beam_size)
    else:
        run = Transcriber.from_export(bundle, backend, settings.beam_size)
    run.task.eval_prune = settings.prune
    if settings.word_list is not None:
        run.task.word_list, run.task.word_list_penalty = settings.word_list, settings.word_list_penalty
        run.scorer = run.task.word_list_scorer(run.alphabet)
    return run


def transcribe(
    model: TrainedModel, settings: TranscribeSettings, out: OutputFile, backend: Backend = Backend()
) -> None:
    """Transcribe audio files with a trained CTC model (a checkpoint or an export folder); writes
    ``path<TAB>transcript`` per file."""
    bundle = open_export(model.ckpt_path, backend.backend, "transcribe")
    path = bundle.folder / MANIFEST if bundle else model.checkpoint("transcribe")
    paths = audio_paths(settings.input)
    out.check([*(settings.input or []), *paths], path)  # the manifest and the audio it lists
    run = _load(path, model.torch_device(), settings, bundle, backend)

    def write_all(file: TextIO) -> None:
        for start in range(0, len(paths), settings.batch_size):
            chunk = paths[start : start + settings.batch_size]
            for audio, text in zip(chunk, run(chunk), strict=True):
                file.write(f"{audio}\t{text}\n")

    with torch.inference_mode():
        out.write(write_all)
