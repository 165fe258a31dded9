"""Speech manifests and audio reading: every error names the manifest file and line (or the audio file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from seqlab.data.errors import DataError
from seqlab.data.formats.audio import load_audio
from seqlab.data.formats.speech_manifest import manifest_audio_paths, read_manifest
from seqlab.data.sources.speech import ManifestSplit
from tests.data.speech_helpers import write_manifest, write_wav


def test_reads_entries_and_resolves_paths_against_the_manifest_folder(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "corpus" / "clips" / "a.wav", 0.5)
    manifest = write_manifest(
        tmp_path / "corpus" / "train.jsonl",
        [{"audio": "clips/a.wav", "text": "Hello", "duration": 0.5}, "", {"audio": str(wav), "text": "x"}],
    )
    utterances = read_manifest(manifest)
    assert [u.text for u in utterances] == ["Hello", "x"]
    assert utterances[0].audio == str(wav.resolve())
    assert utterances[0].duration == 0.5
    assert utterances[1].where == f"{manifest}:3"  # the blank line 2 is skipped, line numbers are kept
    assert manifest_audio_paths(manifest) == [str(wav.resolve()), str(wav)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"audio": "a.wav", "text": "ok"', "invalid JSON"),
        ('["a.wav", "hi"]', "a JSON list; expected one JSON object per line"),
        ('{"audio": "a.wav"}', "no 'text' key"),
        ('{"text": "hi"}', "no 'audio' key"),
        ('{"audio": "a.wav", "text": 7}', "'text' must be a string"),
        ('{"audio": "missing.wav", "text": "hi"}', "missing.wav not found"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    write_wav(tmp_path / "a.wav", 0.2)
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": "a.wav", "text": "fine"}, line])
    with pytest.raises(DataError, match=message) as err:
        read_manifest(manifest)
    assert f"{manifest}:2:" in str(err.value)


def test_unreadable_audio_names_manifest_line_and_file(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"this is not audio at all" * 10)
    write_wav(tmp_path / "good.wav", 0.2)
    manifest = write_manifest(
        tmp_path / "m.jsonl", [{"audio": "good.wav", "text": "a"}, {"audio": "bad.wav", "text": "b"}]
    )
    split = ManifestSplit(read_manifest(manifest))  # listing is fine; decoding fails
    assert split.audio(0, 16000).shape == (3200,)
    with pytest.raises(DataError, match="cannot read the audio") as err:
        split.audio(1, 16000)
    assert f"{manifest}:2:" in str(err.value) and "bad.wav" in str(err.value)


def test_empty_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no utterances"):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_audio_file_direct(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.wav: no such audio file"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_resampling_and_stereo(tmp_path: Path) -> None:
    wave = load_audio(write_wav(tmp_path / "a.wav", 1.5, rate=8000), 16000)
    assert wave.dtype == np.float32 and wave.shape == (24000,)
    # a 440 Hz tone stays a 440 Hz tone: count zero crossings over the 1.5 s
    assert abs(np.sum(np.diff(np.sign(wave)) != 0) / 2 / 1.5 - 440) < 3
    stereo = tmp_path / "s.wav"
    left, right = np.full(1600, 0.5, np.float32), np.full(1600, -0.1, np.float32)
    soundfile.write(stereo, np.stack([left, right], axis=1), 16000)
    assert np.allclose(load_audio(stereo, 16000), 0.2, atol=1e-3)
