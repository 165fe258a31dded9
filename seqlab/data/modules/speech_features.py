"""Acoustic features: Kaldi-compatible log-mel filterbanks and SpecAugment masking.

The filterbanks come from ``kaldi-native-fbank`` (k2-fsa): a small C++ wheel with no torch dependency
(torchaudio's ``compliance.kaldi.fbank`` is not available for our torch), whose output matches
Kaldi's ``compute-fbank-feats`` and so the features of the icefall/k2 and Kaldi recipes. Dither is
off, so the same audio always gives the same features (the cache relies on that). Samples are scaled
to the 16-bit range first, as Kaldi expects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import kaldi_native_fbank as knf
import numpy as np
import torch

from seqlab.data.errors import DataError
from seqlab.data.formats.audio import load_audio


@dataclass
class FeatureSettings:
    """How audio becomes features; saved with checkpoints so transcription computes the same ones.

    Args:
        sample_rate: audio is resampled to this rate (Hz).
        num_mel_bins: mel filterbank channels (the model's input size).
        frame_length_ms: analysis window length.
        frame_shift_ms: hop between frames (10 ms: 100 frames per second).
        normalize: per-utterance mean and variance normalisation of every channel (removes the
            recording level and channel colouring; needs no corpus statistics at inference).
    """

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    normalize: bool = True

    def state_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, int | float | bool]) -> FeatureSettings:
        return cls(**state)  # type: ignore[arg-type]


def _options(settings: FeatureSettings) -> knf.FbankOptions:
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = settings.sample_rate
    opts.frame_opts.frame_length_ms = settings.frame_length_ms
    opts.frame_opts.frame_shift_ms = settings.frame_shift_ms
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = settings.num_mel_bins
    return opts


def compute_features(wave: np.ndarray, settings: FeatureSettings) -> torch.Tensor:
    """Log-mel filterbank features ``[frames, num_mel_bins]`` (float32) of mono samples in [-1, 1] at
    ``settings.sample_rate``; zero frames when the audio is shorter than one window."""
    fbank = knf.OnlineFbank(_options(settings))
    fbank.accept_waveform(settings.sample_rate, np.asarray(wave, dtype=np.float32) * 32768.0)
    fbank.input_finished()
    n = fbank.num_frames_ready
    if n == 0:
        return torch.zeros(0, settings.num_mel_bins)
    feats = torch.from_numpy(np.stack([fbank.get_frame(i) for i in range(n)]).astype(np.float32))
    if settings.normalize:
        feats = (feats - feats.mean(dim=0)) / (feats.std(dim=0, unbiased=False) + 1e-5)
    return feats


def features_for_files(
    paths: Sequence[str | os.PathLike[str]], settings: FeatureSettings
) -> list[torch.Tensor]:
    """Features of audio files for inference (``seqlab transcribe``): one ``[frames, bins]`` each."""
    out = []
    for path in paths:
        feats = compute_features(load_audio(path, settings.sample_rate), settings)
        if len(feats) == 0:
            raise DataError(f"{path}: the audio is shorter than one {settings.frame_length_ms:g} ms frame")
        out.append(feats)
    return out


def spec_augment(
    features: torch.Tensor,
    generator: torch.Generator,
    freq_masks: int = 2,
    freq_width: int = 15,
    time_masks: int = 2,
    time_width_ratio: float = 0.05,
) -> torch.Tensor:
    """SpecAugment-style masking (Park et al., 2019) of one ``[frames, bins]`` utterance, for training.

    ``freq_masks`` bands of up to ``freq_width`` channels and ``time_masks`` spans of up to
    ``time_width_ratio`` of the frames are set to zero (the mean of normalised features). The
    randomness comes from ``generator`` alone, so a seeded generator repeats the same masks. Returns a
    new tensor; the input (a cached feature matrix) is left unchanged.
    """
    out = features.clone()
    frames, bins = out.shape

    def draw(high: int) -> int:
        return int(torch.randint(0, high + 1, (1,), generator=generator))

    for _ in range(freq_masks):
        width = draw(min(freq_width, bins))
        start = draw(bins - width)
        out[:, start : start + width] = 0
    max_time = int(frames * time_width_ratio)
    for _ in range(time_masks):
        width = draw(max_time)
        start = draw(frames - width)
        out[start : start + width, :] = 0
    return out
