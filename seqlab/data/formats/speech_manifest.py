"""Speech manifests: JSON Lines, one utterance per line, ``{"audio": "clips/1.wav", "text": "hello"}``,
or a TSV/CSV table with a header row (``path<TAB>transcript<TAB>...``, as the Free Spoken Digit
Dataset's and Common Voice's lists), one utterance per row.

Relative audio paths are resolved against the manifest's folder, so a corpus folder can move. Optional
keys (or columns): ``phonemes`` (a space-separated phoneme string, the target when training on
phonemes) and ``duration`` (seconds, positive and finite, informational). Every problem is reported as
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
from seqlab.data.formats.tables import case_hint, count_noun, jsonl_records, pick_column, table_rows
from seqlab.data.formats.text_files import read_text_lines

EXPECTED = 'a JSON object per line like {"audio": "path/to/file.wav", "text": "the transcript"}'
TABLE_EXPECTED = "a header row naming the audio and transcript columns, then one row per utterance"
AUDIO_COLUMNS = ("audio", "path")  # tried in this order when no audio column is named
TEXT_COLUMNS = ("text", "transcript")  # tried in this order when no text column is named
DELIMITERS = {".tsv": "\t", ".csv": ","}
MANIFEST_SUFFIXES = (".jsonl", *DELIMITERS)


@dataclass(frozen=True)
class Utterance:
    """One manifest entry: the resolved audio path, its transcript and where it was listed."""

    audio: str
    text: str
    where: str
    phonemes: str | None = None
    duration: float | None = None


def _parse(
    entry: dict[str, Any],
    where: str,
    folder: Path,
    keys: tuple[str, str] = ("audio", "text"),
    need_text: bool = True,
) -> Utterance:
    for key in keys if need_text else keys[:1]:
        if key not in entry:
            raise DataError(
                f"{where}: no {key!r} key (keys: {', '.join(map(repr, entry))}); expected {EXPECTED}"
            )
    audio, text, phonemes, duration = (
        entry[keys[0]],
        entry.get(keys[1], ""),
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


def _column(header: list[str], named: str | None, defaults: tuple[str, ...], what: str, where: str) -> str:
    """The header's column ``named``, else the first of ``defaults`` it has (in any case); else an error
    naming the key that chooses it."""
    found = pick_column(header, named, defaults)
    if found is None and named is not None:
        raise DataError(
            f"{where}: no {what} column {named!r}; the header has {header}{case_hint(named, header)}"
        )
    if found is None:
        raise DataError(
            f"{where}: no {what} column (looked for {' or '.join(map(repr, defaults))}); the header has "
            f"{header}; name it with {what}_column"
        )
    return found


def _duration(value: str) -> float | str | None:
    """A table cell's duration as a number, ``None`` when empty (an unparsable one is kept, and
    refused by ``_parse`` with its line)."""
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _read_table(
    path: Path,
    lines: list[str],
    delimiter: str,
    audio_column: str | None,
    text_column: str | None,
    need_text: bool = True,
) -> list[Utterance]:
    rows = iter(table_rows(path, lines, delimiter))
    header_line, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    if not header or header == [""]:
        raise DataError(f"{path}: no utterances (no header row; expected {TABLE_EXPECTED})")
    at = f"{path}:{header_line}"
    if need_text or text_column is not None or pick_column(header, None, TEXT_COLUMNS) is not None:
        text_key = _column(header, text_column, TEXT_COLUMNS, "text", at)
    else:
        text_key = TEXT_COLUMNS[0]  # absent: every utterance's text is empty
    keys = (_column(header, audio_column, AUDIO_COLUMNS, "audio", at), text_key)
    folder = path.resolve().parent
    out = []
    for number, fields in rows:
        where = f"{path}:{number}"
        if len(fields) != len(header):
            quoting = " (TSV has no quoting: a tab inside a field splits it)" if delimiter == "\t" else ""
            raise DataError(
                f"{where}: {count_noun(len(fields), 'field')}; expected {len(header)} as in the header "
                f"{header}{quoting}"
            )
        entry: dict[str, Any] = dict(zip(header, fields, strict=True))
        if entry.get("phonemes") == "":
            del entry["phonemes"]  # an empty cell: this row has no phonemes
        if "duration" in entry:
            entry["duration"] = _duration(entry["duration"])
        out.append(_parse(entry, where, folder, keys, need_text))
    if not out:
        raise DataError(f"{path}: no utterances (only a header row; expected {TABLE_EXPECTED})")
    return out


def read_manifest(
    path: str | os.PathLike[str],
    audio_column: str | None = None,
    text_column: str | None = None,
    need_text: bool = True,
) -> list[Utterance]:
    """All utterances of a manifest, in file order; blank lines are skipped.

    A ``.tsv`` or ``.csv`` file is a table with a header: the audio path is in ``audio_column``
    (default: ``audio`` or ``path``, whichever it has) and the transcript in ``text_column`` (default:
    ``text`` or ``transcript``). Any other file is JSON Lines with the keys ``audio`` and ``text``
    (or the ones named). With ``need_text`` false (audio to transcribe) the transcript may be absent.
    """
    path = Path(path)
    delimiter = DELIMITERS.get(path.suffix.lower())
    if delimiter is not None:
        lines = read_text_lines(path, "no utterances", TABLE_EXPECTED)
        return _read_table(path, lines, delimiter, audio_column, text_column, need_text)
    lines = read_text_lines(path, "no utterances", EXPECTED)
    folder = path.resolve().parent
    keys = (audio_column or "audio", text_column or "text")
    out = [_parse(entry, where, folder, keys, need_text) for where, entry in jsonl_records(path, lines)]
    if not out:
        raise DataError(f"{path}: no utterances (only blank lines); expected {EXPECTED}")
    return out


def manifest_audio_paths(path: str | os.PathLike[str]) -> list[str]:
    """The audio files a manifest lists (inference input for ``seqlab transcribe``; transcripts, if
    any, are not needed)."""
    return [u.audio for u in read_manifest(path, need_text=False)]


def write_manifest(path: str | os.PathLike[str], entries: list[dict[str, object]]) -> None:
    """Write entries as JSON Lines (UTF-8, one object per line, non-ASCII kept readable)."""
    with open(path, "w", encoding="utf-8") as file:
        for entry in entries:
            file.write(json.dumps(entry, ensure_ascii=False) + "\n")
