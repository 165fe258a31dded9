"""Log-mel features, their normalisation, and SpecAugment."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.speech_features import (
    FeatureSettings,
    compute_features,
    features_for_files,
    spec_augment,
)
from tests.data.speech_helpers import tone, write_wav


def noise_and_tone(seconds: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.from_numpy(tone(seconds)) + 0.05 * torch.randn(int(seconds * 16000), generator=g)


def test_shape_is_frames_by_bins() -> None:
    feats = compute_features(noise_and_tone(1.0).numpy(), FeatureSettings(num_mel_bins=40))
    # Kaldi framing: 1 + (16000 - 400) // 160 frames of 25 ms every 10 ms
    assert feats.shape == (98, 40) and feats.dtype == torch.float32
    longer = compute_features(noise_and_tone(2.0).numpy(), FeatureSettings())
    assert longer.shape == (198, 80)


def test_per_utterance_normalisation() -> None:
    wave = noise_and_tone(1.0).numpy()
    feats = compute_features(wave, FeatureSettings())
    assert torch.allclose(feats.mean(0), torch.zeros(80), atol=1e-4)
    assert torch.allclose(feats.std(0, unbiased=False), torch.ones(80), atol=1e-3)
    raw = compute_features(wave, FeatureSettings(normalize=False))
    assert raw.mean() > 1.0  # log-mel energies of a 16-bit-scaled signal are far from zero
    loud = compute_features(wave * 0.1, FeatureSettings())  # the level is normalised away
    assert torch.allclose(loud, feats, atol=1e-2)


def test_deterministic_and_tone_lands_in_its_band() -> None:
    wave = tone(0.5, hz=1000.0)
    a, b = (
        compute_features(wave, FeatureSettings(normalize=False)),
        compute_features(wave, FeatureSettings(normalize=False)),
    )
    assert torch.equal(a, b)  # dither off
    low = compute_features(tone(0.5, hz=300.0), FeatureSettings(normalize=False))
    assert a.mean(0).argmax() > low.mean(0).argmax()


def test_features_for_files(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / "a.wav", 0.5, rate=8000), write_wav(tmp_path / "b.wav", 1.0)]
    feats = features_for_files(paths, FeatureSettings())
    assert [f.shape for f in feats] == [(48, 80), (98, 80)]
    write_wav(tmp_path / "short.wav", 0.01)
    with pytest.raises(DataError, match=r"short\.wav: the audio is shorter than one 25 ms frame"):
        features_for_files([tmp_path / "short.wav"], FeatureSettings())


def test_spec_augment_masks_reproducibly_and_leaves_input_alone() -> None:
    feats = torch.randn(200, 80) + 5.0  # no zeros of its own
    original = feats.clone()
    a = spec_augment(feats, torch.Generator().manual_seed(1), freq_masks=2, freq_width=15, time_masks=2)
    b = spec_augment(feats, torch.Generator().manual_seed(1), freq_masks=2, freq_width=15, time_masks=2)
    c = spec_augment(feats, torch.Generator().manual_seed(2), freq_masks=2, freq_width=15, time_masks=2)
    assert torch.equal(feats, original)
    assert torch.equal(a, b) and not torch.equal(a, c)
    zero = a == 0
    masked_bins = zero.all(0).sum()
    masked_frames = zero.all(1).sum()
    assert 0 < masked_bins <= 30 and masked_frames <= 2 * 10
    assert (zero == (zero.all(0, keepdim=True) | zero.all(1, keepdim=True))).all()  # only whole bands/spans
    assert torch.equal(spec_augment(feats, torch.Generator(), freq_masks=0, time_masks=0), feats)
