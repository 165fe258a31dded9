"""Small audio fixtures for the speech tests: tones written as WAV files and manifests over them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile


def tone(seconds: float, rate: int = 16000, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write_wav(path: Path, seconds: float, rate: int = 16000, hz: float = 440.0, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, tone(seconds, rate, hz, channels), rate)
    return path


def write_manifest(path: Path, rows: list[dict | str]) -> Path:
    """Rows are dicts (written as JSON) or raw strings (written as they are, for broken lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
