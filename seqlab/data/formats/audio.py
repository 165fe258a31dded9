"""Reading audio files: soundfile (libsndfile) decodes WAV, FLAC and Ogg without torchaudio, which no
longer builds against our torch, and soxr resamples (a high-quality, fast resampler that gives the same
samples on every machine)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile
import soxr

from seqlab.data.errors import DataError


def to_mono_float(wave: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Average the channels of a ``[samples]`` or ``[samples, channels]`` array and resample it from
    ``rate`` to ``sample_rate``: float32 in [-1, 1]."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(np.clip(wave, -1.0, 1.0), dtype=np.float32)


def load_audio(
    path: str | os.PathLike[str] | bytes, sample_rate: int, where: str | None = None
) -> np.ndarray:
    """The file (or encoded bytes) as float32 mono samples at ``sample_rate``.

    Missing or undecodable audio raises :class:`DataError` naming the file and, when given, ``where``
    it was listed (``manifest.jsonl:12``), so a bad entry in a corpus of thousands is found at once.
    """
    prefix = f"{where}: " if where else ""
    name = "<audio bytes>" if isinstance(path, bytes) else str(path)
    if not isinstance(path, bytes) and not Path(path).is_file():
        raise DataError(f"{prefix}{name}: no such audio file (expected a WAV/FLAC file)")
    try:
        source = io.BytesIO(path) if isinstance(path, bytes) else path
        wave, rate = soundfile.read(source, dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        said = str(err)
        if "does not exist" in said:  # what libsndfile says of some files it cannot decode (an MP3)
            said = "libsndfile cannot decode its content"
        raise DataError(f"{prefix}{name}: cannot read the audio ({said}); expected a WAV/FLAC file") from None
    if wave.size == 0:
        raise DataError(f"{prefix}{name}: the audio file holds no samples")
    if (cut := _wav_cut_short(path)) is not None:
        raise DataError(f"{prefix}{name}: {cut} (a copy or download cut short?); expected a whole WAV file")
    return to_mono_float(wave, int(rate), sample_rate)


_UNKNOWN_RIFF_SIZES = (0, 0xFFFFFFFF)  # written by streaming recorders that cannot seek back


def _wav_cut_short(path: str | os.PathLike[str] | bytes) -> str | None:
    """What is missing from a WAV file shorter than its RIFF header says it is, or ``None``. libsndfile
    reads such a file up to where it stops, without a word: a truncated recording would train, or be
    transcribed, as if it were whole."""
    if isinstance(path, bytes):
        head = path[:8]
    else:
        with open(path, "rb") as file:
            head = file.read(8)
    if len(head) < 8 or head[:4] != b"RIFF":
        return None
    promised = int.from_bytes(head[4:8], "little")
    size = len(path) if isinstance(path, bytes) else Path(path).stat().st_size
    if promised in _UNKNOWN_RIFF_SIZES or size >= promised + 8:
        return None
    return f"the file has {size:,} bytes, its WAV header says {promised + 8:,}"
