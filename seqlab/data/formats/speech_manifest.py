"""Speech manifests: JSON Lines, one utterance per line, ``{"audio": "clips/1.wav", "text": "hello"}``.

Relative audio paths are resolved against the manifest's folder, so a corpus folder can move. Optional
keys: ``phonemes`` (a space-separated phoneme string, the target when training on phonemes) and
``duration`` (seconds, positive and finite, informational). Every problem is reported as
``manifest:line: what was wrong (expected ...)``; audio that exists but cannot be decoded is reported
the same way when features are computed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.data.errors import DataError
from seqlab.data.formats.tables import jsonl_records
from seqlab.data.formats.text_files import read_text_lines

EXPECTED = 'a JSON object per line like {"audio": "path/to/file.wav", "text": "the transcript"}'


@dataclass(frozen=True)
class Utterance:
    """One manifest entry: the resolved audio path, its transcript and where it was listed."""

    audio: str
    text: str
    where: str
    phonemes: str | None = None
    duration: float | None = None


def _parse(entry: dict[str, Any], where: str, folder: Path) -> Utterance:
    for key in ("audio", "text"):
        if key not in entry:
            raise DataError(
                f"{where}: no {key!r} key (keys: {', '.join(map(repr, entry))}); expected {EXPECTED}"
            )
    audio, text, phonemes, duration = (
        entry["audio"],
        entry["text"],
        entry.get("phonemes"),
        entry.get("duration"),
    )
    if not isinstance(audio, str) or not audio:
        raise DataError(f"{where}: 'audio' must be a non-empty path string, got {audio!r}")
    if not isinstance(text, str):
        raise DataError(f"{where}: 'text' must be a string, got {type(text).__name__} {text!r}")
    if phonemes is not None and not isinstance(phonemes, str):
        raise DataError(f"{where}: 'phonemes' must be a string, got {type(phonemes).__name__} {phonemes!r}")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not math.isfinite(duration)
        or duration <= 0
    ):  # JSON's NaN/Infinity literals parse as floats; a length is never zero or negative
        raise DataError(
            f"{where}: 'duration' must be a positive, finite number of seconds (e.g. 2.5), got {duration!r}"
        )
    path = Path(audio) if os.path.isabs(audio) else folder / audio
    if not path.is_file():
        raise DataError(
            f"{where}: audio file {path} not found (expected a WAV/FLAC file; relative paths "
            "are resolved against the manifest's folder)"
        )
    return Utterance(str(path), text, where, phonemes, None if duration is None else float(duration))


def read_manifest(path: str | os.PathLike[str]) -> list[Utterance]:
    """All utterances of a JSON Lines manifest, in file order; blank lines are skipped."""
    path = Path(path)
    lines = read_text_lines(path, "no utterances", EXPECTED)
    folder = path.resolve().parent
    out = [_parse(entry, where, folder) for where, entry in jsonl_records(path, lines)]
    if not out:
        raise DataError(f"{path}: no utterances (only blank lines); expected {EXPECTED}")
    return out


def manifest_audio_paths(path: str | os.PathLike[str]) -> list[str]:
    """The audio files a manifest lists (inference input for ``seqlab transcribe``)."""
    return [u.audio for u in read_manifest(path)]


def write_manifest(path: str | os.PathLike[str], entries: list[dict[str, object]]) -> None:
    """Write entries as JSON Lines (UTF-8, one object per line, non-ASCII kept readable)."""
    with open(path, "w", encoding="utf-8") as file:
        for entry in entries:
            file.write(json.dumps(entry, ensure_ascii=False) + "\n")
