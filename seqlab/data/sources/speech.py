"""Where speech data comes from: manifests, the built-in synthesized corpus, or a Hugging Face audio
dataset. Each gives splits of utterances whose transcripts are known at once (the alphabet is fitted
from them) and whose audio is decoded only when features are computed."""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from seqlab.data.cache import default_cache_dir
from seqlab.data.errors import DataError
from seqlab.data.formats.audio import load_audio
from seqlab.data.formats.speech_manifest import Utterance, read_manifest
from seqlab.data.splits import with_validation


class SpeechSplit(ABC):
    """One split: transcripts (``texts``, ``phonemes`` where known), ``wheres`` for error messages,
    and audio by index."""

    texts: list[str]
    phonemes: list[str | None]
    wheres: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @abstractmethod
    def audio(self, index: int, sample_rate: int) -> np.ndarray:
        """Mono float32 samples of utterance ``index`` at ``sample_rate``."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A hash that changes whenever the split's content may have changed (keys the feature cache)."""


class ManifestSplit(SpeechSplit):
    """Utterances of a manifest; the fingerprint covers every entry and each audio file's size and
    modification time, so a re-recorded file invalidates cached features."""

    def __init__(self, utterances: list[Utterance]) -> None:
        self.utterances = utterances
        self.texts = [u.text for u in utterances]
        self.phonemes = [u.phonemes for u in utterances]
        self.wheres = [u.where for u in utterances]

    def audio(self, index: int, sample_rate: int) -> np.ndarray:
        u = self.utterances[index]
        return load_audio(u.audio, sample_rate, where=u.where)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for u in self.utterances:
            stat = os.stat(u.audio)
            digest.update(json.dumps([u.audio, u.text, u.phonemes, stat.st_size, stat.st_mtime_ns]).encode())
        return digest.hexdigest()[:16]


class SpeechSource(ABC):
    """Splits ``train`` and ``validation`` (and ``test`` where available) of transcribed audio."""

    @abstractmethod
    def load(self) -> dict[str, SpeechSplit]: ...


class SpeechManifests(SpeechSource):
    """Local manifests: JSON Lines (``{"audio": "a.wav", "text": "..."}`` per line) or TSV/CSV tables
    with a header (by suffix), see ``seqlab.data.formats.speech_manifest``.

    Args:
        train: training manifest.
        validation: validation manifest (``None``: hold out ``validation_fraction`` of train, as for
            FSDD, whose official split has only train and test).
        test: test manifest.
        audio_column: column (or JSON key) of the audio path (``None``: ``audio``, else ``path``).
        text_column: column (or JSON key) of the transcript (``None``: ``text``, else ``transcript``).
        validation_fraction: share of train held out when there is no validation manifest.
        seed: seed of that hold-out (by audio path).
    """

    def __init__(
        self,
        train: str,
        validation: str | None = None,
        test: str | None = None,
        audio_column: str | None = None,
        text_column: str | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.files = {"train": train, "validation": validation, "test": test}
        self.audio_column, self.text_column = audio_column, text_column
        self.validation_fraction, self.seed = validation_fraction, seed

    def load(self) -> dict[str, SpeechSplit]:
        read = {
            split: read_manifest(path, self.audio_column, self.text_column)
            for split, path in self.files.items()
            if path
        }
        splits = with_validation(read, self.validation_fraction, self.seed, key=lambda u: u.audio)
        return {split: ManifestSplit(utterances) for split, utterances in splits.items()}


class BuiltinSpeech(SpeechSource):
    """Built-in, offline: English words spoken by eSpeak NG in varied voices with noise (see
    ``seqlab.data.builtin.speech``), synthesized on first use into ``cache_dir``.

    Args:
        sizes: utterances in train, validation and test (the default takes ~2 minutes on 2 cores).
        seed: seed of the word split, the voices and the noise.
        max_words: words per utterance, 1 to this.
        snr_db: range of the signal-to-noise ratio of the added noise, in dB.
        cache_dir: where the corpus is written (default: ``$SEQLAB_CACHE``, i.e. ``~/.cache/seqlab``).
        workers: synthesis processes (default: the CPU count, at most 8).
    """

    def __init__(
        self,
        sizes: tuple[int, int, int] = (12000, 600, 600),
        seed: int = 0,
        max_words: int = 3,
        snr_db: tuple[float, float] = (10.0, 30.0),
        cache_dir: str | None = None,
        workers: int | None = None,
    ) -> None:
        from seqlab.data.builtin.speech import SpeechCorpusSettings

        self.settings = SpeechCorpusSettings(
            sizes=tuple(sizes),
            seed=seed,
            max_words=max_words,
            snr_db=tuple(snr_db),  # type: ignore[arg-type]
        )
        self.cache_dir, self.workers = cache_dir, workers

    def folder(self) -> Path:
        """The corpus folder, generated if it does not exist yet."""
        from seqlab.data.builtin.speech import builtin_speech_corpus

        return builtin_speech_corpus(self.settings, self.cache_dir or default_cache_dir(), self.workers)

    def load(self) -> dict[str, SpeechSplit]:
        folder = self.folder()
        return {
            split: ManifestSplit(read_manifest(folder / f"{split}.jsonl"))
            for split, size in zip(("train", "validation", "test"), self.settings.sizes, strict=True)
            if size > 0
        }


class HubSplit(SpeechSplit):
    """A Hugging Face dataset split with an audio column (read as encoded bytes or a path and decoded
    with soundfile, so no torchcodec is needed) and a text column."""

    def __init__(self, dataset: object, audio_column: str, text_column: str, name: str) -> None:
        from datasets import Audio

        for column in (audio_column, text_column):
            if column not in dataset.column_names:  # type: ignore[attr-defined]
                raise DataError(f"{name}: no column {column!r} (columns: {dataset.column_names})")  # type: ignore[attr-defined]
        self.dataset = dataset.cast_column(audio_column, Audio(decode=False))  # type: ignore[attr-defined]
        self.audio_column, self.name = audio_column, name
        self.texts = [str(t) for t in self.dataset[text_column]]
        self.phonemes = [None] * len(self.texts)
        self.wheres = [f"{name}[{i}]" for i in range(len(self.texts))]

    def audio(self, index: int, sample_rate: int) -> np.ndarray:
        cell = self.dataset[index][self.audio_column]
        data = cell.get("bytes") or cell.get("path")
        if not data:
            raise DataError(f"{self.wheres[index]}: the audio cell holds neither bytes nor a path")
        return load_audio(data, sample_rate, where=self.wheres[index])

    def fingerprint(self) -> str:
        return str(self.dataset._fingerprint)  # type: ignore[attr-defined]


class HubSpeech(SpeechSource):
    """A Hugging Face audio dataset by hub name (online) or a local ``save_to_disk`` folder (offline).

    Args:
        name: hub name (``openslr/librispeech_asr``) or a local dataset folder.
        config_name: dataset configuration (``clean``).
        audio_column: column of the audio.
        text_column: column of the transcript.
        train_split: split to train on.
        validation_split: split to validate on.
        test_split: split to test on (``None``: none).
    """

    def __init__(
        self,
        name: str,
        config_name: str | None = None,
        audio_column: str = "audio",
        text_column: str = "text",
        train_split: str = "train",
        validation_split: str = "validation",
        test_split: str | None = None,
    ) -> None:
        self.name, self.config_name = name, config_name
        self.audio_column, self.text_column = audio_column, text_column
        self.split_names = {"train": train_split, "validation": validation_split, "test": test_split}

    def _split(self, hub_split: str) -> object:
        import datasets

        if Path(self.name).is_dir():
            loaded = datasets.load_from_disk(self.name)
            if isinstance(loaded, datasets.DatasetDict):
                if hub_split not in loaded:
                    raise DataError(f"{self.name}: no split {hub_split!r} (splits: {list(loaded)})")
                return loaded[hub_split]
            return loaded
        return datasets.load_dataset(self.name, self.config_name, split=hub_split)

    def load(self) -> dict[str, SpeechSplit]:
        return {
            split: HubSplit(self._split(hub), self.audio_column, self.text_column, f"{self.name}:{hub}")
            for split, hub in self.split_names.items()
            if hub
        }
