"""The speech DataModule for CTC: audio -> cached log-mel features, transcripts -> alphabet ids,
batched by duration.

Features are computed once per split (rank 0, in ``prepare_data``) and cached under
``cache_dir/speech-features`` keyed by the split's content hash and the feature settings, so a
changed manifest, audio file or setting recomputes them and nothing else does. They are stored as
float16 (half the disk and memory; normalised features lose nothing that matters) and memory-mapped
in ``setup``. SpecAugment masks training batches only, each utterance with a generator seeded by
(seed, epoch, utterance), so a run repeats and a resumed run continues the same masks. Speed
perturbation (Ko et al. 2015) caches the training features once more per speed; the same generator
picks each utterance's speed per epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jsonargparse import lazy_instance
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import Dataset

from seqlab.data.cache import default_cache_dir, read_or_rebuild
from seqlab.data.errors import DataError
from seqlab.data.modules import checked_settings, summary
from seqlab.data.modules.batching import EpochSampler, example_seed, pad
from seqlab.data.modules.speech_features import FeatureSettings, compute_features, spec_augment
from seqlab.data.modules.supervised import SupervisedData
from seqlab.data.sources.speech import BuiltinSpeech, SpeechSource
from seqlab.data.tokenizers.speech_alphabet import Alphabet, Targets

Item = tuple[int, torch.Tensor, list[int], str]


class CachedFeatures:
    """One cached feature file: a float16 matrix of every utterance's frames, sliced per utterance."""

    def __init__(self, features: torch.Tensor, lengths: torch.Tensor) -> None:
        self.features, self.lengths = features, lengths.tolist()
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).tolist()

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.features[self.offsets[index] : self.offsets[index + 1]].float()


class SpeechSplitData(Dataset):
    """Cached features with encoded targets; in training, optionally augmented (SpecAugment) and
    read from one of several speed-perturbed copies."""

    def __init__(
        self,
        features: torch.Tensor,
        lengths: torch.Tensor,
        targets: list[list[int]],
        texts: list[str],
        augment: dict[str, Any] | None = None,
        seed: int = 0,
        perturbed: list[CachedFeatures] | None = None,
    ) -> None:
        self.cached = CachedFeatures(features, lengths)
        self.lengths = self.cached.lengths  # batches are bucketed by the unperturbed lengths
        self.perturbed = perturbed or []
        self.targets, self.texts, self.augment, self.seed = targets, texts, augment, seed

    @property
    def features(self) -> torch.Tensor:
        return self.cached.features

    @property
    def offsets(self) -> list[int]:
        return self.cached.offsets

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if self.augment is None and not self.perturbed:
            return index, self.cached[index], self.targets[index], self.texts[index]
        seed = example_seed(self.seed, epoch, index)
        generator = torch.Generator().manual_seed(seed)
        copies = [self.cached, *self.perturbed]
        pick = int(torch.randint(len(copies), (1,), generator=generator)) if self.perturbed else 0
        feats = copies[pick][index]
        if self.augment is not None:
            feats = spec_augment(feats, generator, **self.augment)
        return index, feats, self.targets[index], self.texts[index]


def collate_speech(items: list[Item]) -> dict[str, Any]:
    """Items -> ``features`` [B, T, F] zero-padded, ``feature_lengths`` [B], ``targets`` [B, S] padded
    with the blank (0), ``target_lengths`` [B], ``texts`` (the whole target text: the transcript, or
    the phoneme string for phoneme targets, what CER/WER score against) and ``ids`` (utterance index in
    its split)."""
    longest = max(len(f) for _, f, _, _ in items)
    features = torch.zeros(len(items), longest, items[0][1].shape[1])
    for row, (_, feats, _, _) in enumerate(items):
        features[row, : len(feats)] = feats
    return {
        "features": features,
        "feature_lengths": torch.tensor([len(f) for _, f, _, _ in items], dtype=torch.long),
        "targets": pad([t for _, _, t, _ in items], value=Alphabet.blank),
        "target_lengths": torch.tensor([len(t) for _, _, t, _ in items], dtype=torch.long),
        "texts": [text for _, _, _, text in items],
        "ids": [i for i, _, _, _ in items],
    }


class SpeechData(SupervisedData):
    """Transcribed audio -> log-mel features and alphabet ids -> duration-bucketed padded batches.

    The alphabet is fitted on the training transcripts in ``__init__`` (``vocab_size`` and
    ``num_features`` are known before the model is built); features are computed in
    ``prepare_data``.

    Args:
        source: where the audio comes from (default: the built-in eSpeak NG corpus).
        targets: ``characters`` of the transcript (lowercased), its ``words`` (one output per word:
            for a closed vocabulary, e.g. spoken digits) or ``phonemes`` (the manifest's
            space-separated ``phonemes``; the built-in corpus has them).
        sample_rate: audio is resampled to this rate.
        num_mel_bins: filterbank channels per frame (the model's ``num_features``).
        frame_length_ms: analysis window.
        frame_shift_ms: hop between frames.
        normalize_features: per-utterance mean/variance normalisation of every channel.
        spec_augment: mask training features SpecAugment-style.
        freq_masks: frequency bands masked per utterance.
        freq_width: widest frequency band, in channels.
        time_masks: time spans masked per utterance.
        time_width_ratio: longest time span, as a share of the utterance.
        speed_perturbation: extra training speeds (e.g. ``[0.9, 1.1]``): each training utterance is
            also resampled to play this many times faster (tempo and pitch change together, as
            ``sox speed``), its features cached once per speed; every epoch each utterance is read at
            one of the speeds, 1.0 included, drawn per (seed, epoch, utterance). ``[]``: off.
        batch_size: utterances per training batch (per process).
        eval_batch_size: utterances per validation/test batch (default: ``batch_size``).
        seed: seed of the shuffling and of SpecAugment.
        num_workers: DataLoader worker processes.
        cache_dir: feature cache (default: ``$SEQLAB_CACHE``, i.e. ``~/.cache/seqlab``).
    """

    def __init__(
        self,
        source: SpeechSource = lazy_instance(BuiltinSpeech),
        targets: Targets = "characters",
        sample_rate: int = 16000,
        num_mel_bins: int = 80,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        normalize_features: bool = True,
        spec_augment: bool = True,
        freq_masks: int = 2,
        freq_width: int = 15,
        time_masks: int = 2,
        time_width_ratio: float = 0.05,
        speed_perturbation: list[float] | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, num_workers)
        for key, value in (("sample_rate", sample_rate), ("num_mel_bins", num_mel_bins)):
            checked_settings.whole_number(f"data.{key}", value)
        for key, value in (("frame_length_ms", frame_length_ms), ("frame_shift_ms", frame_shift_ms)):
            checked_settings.positive_number(f"data.{key}", value)
        masks = {"freq_masks": freq_masks, "freq_width": freq_width, "time_masks": time_masks}
        for key, value in masks.items():
            checked_settings.whole_number(f"data.{key}", value, minimum=0)
        checked_settings.fraction("data.time_width_ratio", time_width_ratio)
        self.speeds = checked_settings.speeds("data.speed_perturbation", speed_perturbation or [])
        self.settings = FeatureSettings(
            sample_rate, num_mel_bins, frame_length_ms, frame_shift_ms, normalize_features
        )
        self.augment = (
            {
                "freq_masks": freq_masks,
                "freq_width": freq_width,
                "time_masks": time_masks,
                "time_width_ratio": time_width_ratio,
            }
            if spec_augment
            else None
        )
        self.cache_dir = Path(cache_dir or default_cache_dir()) / "speech-features"
        self.raw = source.load()
        if "validation" not in self.raw:
            raise DataError("the speech source has no validation split; configure one")
        self.targets = targets
        self.alphabet = Alphabet.fit(self._targets("train"), targets)
        self.encoded = {split: [self.alphabet.encode(t) for t in self._targets(split)] for split in self.raw}
        if self.alphabet.unknown:
            unknown = ", ".join(f"{s!r} x{n}" for s, n in self.alphabet.unknown.most_common(10))
            rank_zero_warn(
                f"symbols absent from the training targets, which the model cannot emit and CER/WER count "
                f"as errors: {unknown}"
            )

    sampler_class = EpochSampler
    collate = staticmethod(collate_speech)  # a plain function: worker processes need not copy the module

    def _targets(self, split: str) -> list[str]:
        data = self.raw[split]
        if self.targets != "phonemes":
            return data.texts
        missing = [where for where, p in zip(data.wheres, data.phonemes, strict=True) if p is None]
        if missing:
            raise DataError(
                f"{missing[0]}: no 'phonemes' (targets=phonemes needs a phoneme string per utterance)"
            )
        return [p for p in data.phonemes if p is not None]

    @property
    def vocab_size(self) -> int:
        """Model outputs: the alphabet plus the CTC blank (id 0)."""
        return self.alphabet.size

    @property
    def num_features(self) -> int:
        return self.settings.num_mel_bins

    def feature_file(self, split: str, speed: float = 1.0) -> Path:
        parts: list[Any] = [self.raw[split].fingerprint(), self.settings.state_dict()]
        key = json.dumps(parts if speed == 1.0 else [*parts, {"speed": speed}], sort_keys=True)
        return self.cache_dir / f"{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"

    def _feature_files(self) -> list[tuple[str, float]]:
        """Every (split, speed) with a cached feature file: each split at 1.0, training also at each
        perturbed speed."""
        return [(split, 1.0) for split in self.raw] + [("train", speed) for speed in self.speeds]

    def _compute(self, split: str, path: Path, speed: float = 1.0) -> None:
        from tqdm.auto import tqdm

        data, rate = self.raw[split], self.settings.sample_rate
        # Read at rate / speed and treated as `rate`: played `speed` times faster.
        read_rate = rate if speed == 1.0 else round(rate / speed)
        chunks, lengths = [], []
        desc = f"features of {split}" + ("" if speed == 1.0 else f" at speed {speed:g}")
        for i in tqdm(range(len(data)), desc=desc, unit="utt", leave=False):
            feats = compute_features(data.audio(i, read_rate), self.settings)
            if len(feats) == 0:
                frame = f"{self.settings.frame_length_ms:g} ms"
                raise DataError(f"{data.wheres[i]}: the audio is shorter than one {frame} frame")
            chunks.append(feats.half())
            lengths.append(len(feats))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            torch.save({"features": torch.cat(chunks), "lengths": torch.tensor(lengths)}, partial)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)

    def prepare_data(self) -> None:
        """Compute and cache the features of every split (and training speed) that has none cached yet
        (rank 0 only)."""
        for split, speed in self._feature_files():
            path = self.feature_file(split, speed)
            if not path.is_file():
                self._compute(split, path, speed)

    def _load(self, split: str, speed: float = 1.0) -> dict[str, torch.Tensor]:
        path = self.feature_file(split, speed)

        def features() -> dict[str, torch.Tensor]:
            if not path.is_file():  # used without a Trainer, prepare_data skipped, or a damaged file removed
                self._compute(split, path, speed)
            return torch.load(path, mmap=True, weights_only=True)

        return read_or_rebuild(path, features, (RuntimeError, OSError, EOFError))

    def setup(self, stage: str | None = None) -> None:
        missing = [split for split in self.raw if split not in self.splits]
        for split in missing:
            cached = self._load(split)
            train = split == "train"
            perturbed = [CachedFeatures(**self._load(split, s)) for s in self.speeds] if train else []
            self.splits[split] = SpeechSplitData(
                cached["features"],
                cached["lengths"],
                self.encoded[split],
                self._targets(split),  # the references CER/WER score against, unknown symbols kept
                self.augment if train else None,
                self.seed,
                perturbed,
            )
        if missing:
            frames = self.splits["train"].lengths if "train" in self.splits else []
            parts = [f"alphabet {self.alphabet.size} ({self.targets}, with the CTC blank)"]
            if self.speeds:
                parts.append("training speeds " + ", ".join(f"{s:g}" for s in [1.0, *self.speeds]))
            parts.append(summary.lengths(frames, "frames per training utterance"))
            counts = {split: len(data) for split, data in self.splits.items()}
            summary.print_summary(summary.data_summary("speech", counts, "utterances", parts))

    def _build_splits(self) -> None:
        self.setup()

    def detokenize(self, ids: list[int]) -> str:
        return self.alphabet.detokenize(ids)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint, so a checkpoint alone can transcribe audio: the alphabet (under
        ``tokenizer``, as every DataModule files its ids <-> text mapping) and the feature settings."""
        return {"tokenizer": self.alphabet.state_dict(), "features": self.settings.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.state_dict() != state_dict:
            raise ValueError(
                "the checkpoint was trained with a different alphabet or feature settings than this data "
                "configuration builds; use the same data settings as the original run"
            )
