"""Reading pretrained word vectors in word2vec or GloVe text format, strictly.

Both formats are one token per line followed by its vector, separated by spaces; word2vec text files
start with an ``N D`` header line (vector count, dimension), GloVe files do not. The reader refuses
anything it would otherwise have to guess about, naming the file and line: a line with the wrong number
of values, a value that is not a finite number, a header whose count disagrees with the file, a token
that appears twice (which vector was meant?), blank lines between vectors, an empty file.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.formats.text_files import read_text_file

_FIELD_SEP = re.compile(r"[ \t]+")  # ASCII only: tokens may hold other whitespace (e.g. U+00A0)
_HEAD_BYTES = 1 << 16


def read_embedding_file(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """The tokens of a word2vec/GloVe text file and their vectors, float32 ``[N, D]`` in file order.

    A first line of exactly two non-negative integers is taken as the word2vec ``N D`` header. Tokens
    are compared as exact strings (``<unk>``, ``▁the`` are fine) and cannot contain spaces or tabs.
    The file is streamed line by line: memory grows with the vectors, not with the text.
    """
    path = Path(path)
    if not path.is_file():
        read_text_file(path)  # raises: no such file / not a regular file
    _refuse_binary(path)
    header: tuple[int, int] | None = None
    dim, dim_source = None, ""
    tokens: list[str] = []
    rows: list[np.ndarray] = []
    first_seen: dict[str, int] = {}
    blank: int | None = None  # a blank line is fine only at the end of the file
    for lineno, line in _lines(path):
        where = f"{path}, line {lineno}"
        fields = _FIELD_SEP.split(line.rstrip())
        token = fields[0]
        if not token and len(fields) == 1:
            blank = blank or lineno
            continue
        if blank is not None:
            raise DataError(f"{path}, line {blank}: blank line (expected a token followed by its values)")
        if not token:
            raise DataError(f"{where}: line starts with a space (expected a token followed by its values)")
        if lineno == 1 and (header := _parse_header(fields, path)):
            dim, dim_source = header[1], "as the header on line 1 says"
            continue
        if dim is None:
            if len(fields) < 2:
                raise DataError(
                    f"{where}: expected a token followed by its vector values, found only {token!r}"
                )
            dim, dim_source = len(fields) - 1, f"as on line {lineno}"
        if len(fields) != dim + 1:
            hint = "; tokens cannot contain spaces" if len(fields) > dim + 1 else ""
            raise DataError(
                f"{where}: expected the token {token!r} and {dim} values ({dim_source}), "
                f"found {len(fields) - 1} values{hint}"
            )
        if token in first_seen:
            raise DataError(
                f"{where}: token {token!r} already has a vector on line {first_seen[token]} "
                "(expected each token once; remove one of them)"
            )
        first_seen[token] = lineno
        tokens.append(token)
        rows.append(_parse_values(fields[1:], where))
    return tokens, _stacked(path, header, tokens, rows, first_seen)


def _stacked(
    path: Path,
    header: tuple[int, int] | None,
    tokens: list[str],
    rows: list[np.ndarray],
    first_seen: dict[str, int],
) -> np.ndarray:
    """The vectors as one matrix, once the whole file is read: not none, as many as the header
    announced, and every value finite."""
    if not tokens:
        if header is None:
            read_text_file(path)  # raises: file is empty
        raise DataError(f"{path}: holds no vectors (expected lines of a token followed by its values)")
    if header and header[0] != len(tokens):
        raise DataError(
            f"{path}, line 1: the header announces {header[0]} vectors but the file holds {len(tokens)}"
        )
    vectors = np.stack(rows)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        token = tokens[int(np.argmin(finite))]
        raise DataError(
            f"{path}, line {first_seen[token]}: the vector of {token!r} is not finite (nan or inf)"
        )
    return vectors


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, decoded as UTF-8 (a byte-order mark is dropped)."""
    with path.open("rb") as file:
        for lineno, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                read_text_file(path)  # raises, naming the byte offset, line and column
                raise
            yield lineno, text.removeprefix("\ufeff") if lineno == 1 else text


def _parse_header(fields: list[str], path: Path) -> tuple[int, int] | None:
    """``(N, D)`` when the first line's fields are a word2vec header, else ``None``."""
    if len(fields) != 2 or not all(f.isdigit() and f.isascii() for f in fields):
        return None
    count, dim = int(fields[0]), int(fields[1])
    if dim < 1:
        raise DataError(f"{path}, line 1: the header's vector dimension must be at least 1, got {dim}")
    return count, dim


def _parse_values(values: list[str], where: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float32)
    except ValueError:
        for i, value in enumerate(values, start=1):
            try:
                float(value)
            except ValueError:
                raise DataError(f"{where}: value {i} is {value!r}, which is not a number") from None
        raise


def _refuse_binary(path: Path) -> None:
    """Name a word2vec binary file as such (its float bytes would otherwise read as bad UTF-8)."""
    if not path.is_file():
        return  # read_text_file names the problem
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        if b"\x00" not in head:
            return
    except UnicodeDecodeError:
        pass
    first = head.split(b"\n", 1)[0].split()
    if len(first) == 2 and all(f.isdigit() for f in first):
        raise DataError(
            f"{path}: this looks like a word2vec binary file (header '{first[0].decode()} "
            f"{first[1].decode()}' followed by raw bytes); seqlab reads the text format: convert it, e.g. "
            "with gensim: KeyedVectors.load_word2vec_format(path, binary=True)"
            ".save_word2vec_format(out, binary=False)"
        )
