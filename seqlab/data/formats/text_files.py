"""Reading user text files strictly, with errors that say which file, where, and what was expected."""

from __future__ import annotations

import os
from pathlib import Path

from seqlab.data.errors import DataError, no_such_file


def read_text_file(path: str | os.PathLike[str]) -> str:
    """Read a whole UTF-8 file, refusing missing, empty and non-UTF-8 files with a precise message."""
    path = Path(path)
    if not path.exists():
        raise no_such_file(path, "a UTF-8 text file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (expected a UTF-8 text file)")
    raw = path.read_bytes()
    if not raw.removeprefix(b"\xef\xbb\xbf").strip():
        raise DataError(f"{path}: file is empty (expected UTF-8 text)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        column = len(raw[line_start : err.start].decode("utf-8", errors="replace")) + 1  # in characters
        bad = raw[err.start : err.end].hex(" ")
        raise DataError(
            f"{path}: not valid UTF-8 at byte offset {err.start} (line {line}, column {column}): "
            f"bytes {bad} ({err.reason}); re-encode the file as UTF-8, e.g. with iconv"
        ) from None
    return text.removeprefix("\ufeff")


def read_text_lines(path: str | os.PathLike[str], nothing: str, expected: str) -> list[str]:
    """The lines of a UTF-8 file without line ends (the CR of CRLF dropped). An empty file is refused
    as "``path``: ``nothing`` (the file is empty; expected ``expected``)"."""
    path = Path(path)
    try:
        text = read_text_file(path)
    except DataError:
        if path.is_file() and not path.read_bytes().removeprefix(b"\xef\xbb\xbf").strip():
            raise DataError(f"{path}: {nothing} (the file is empty; expected {expected})") from None
        raise
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # a final line end does not start another line
    return [line.removesuffix("\r") for line in lines]
