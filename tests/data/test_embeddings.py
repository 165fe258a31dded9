"""read_embedding_file: word2vec (header) and GloVe (no header) text files, and a precise DataError, naming
the file and line, for every kind of malformed input."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from seqlab.data import DataError, read_embedding_file


def write(tmp_path: Path, text: str, name: str = "vectors.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_word2vec_text_with_header(tmp_path: Path) -> None:
    """The 'N D' header is read, not returned as a token; tokens such as <unk>, ▁the and naïve survive;
    the word2vec tool's trailing space and Windows line endings are fine."""
    path = write(tmp_path, "3 2\r\n<unk> 0.5 -1 \r\n▁the 1e-3 2.25 \r\nnaïve -0 7\r\n")
    tokens, vectors = read_embedding_file(path)
    assert tokens == ["<unk>", "▁the", "naïve"]
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, np.array([[0.5, -1], [1e-3, 2.25], [0, 7]], dtype=np.float32))


def test_glove_without_header(tmp_path: Path) -> None:
    """A GloVe file has no header; its first line sets the dimension."""
    path = write(tmp_path, "the 0.1 0.2 0.3\n, -1 -2 -3\nof 4 5 6\n\n")
    tokens, vectors = read_embedding_file(path)
    assert tokens == ["the", ",", "of"]
    assert vectors.shape == (3, 3)
    np.testing.assert_allclose(vectors[0], [0.1, 0.2, 0.3])


def error_of(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_embedding_file(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("a 1 2 3\nb 1 2\nc 1 2 3\n", 2, r"expected the token 'b' and 3 values \(as on line 1\), found 2"),
        (
            "2 3\na 1 2 3\nb 1 2 3 4\n",
            3,
            r"3 values \(as the header on line 1 says\), found 4 values; tokens cannot",
        ),
        ("a 1 2\nb 1 x2\n", 2, r"value 2 is 'x2', which is not a number"),
        ("a 1 2\nb 1,5 2\n", 2, r"value 1 is '1,5', which is not a number"),
        ("a 1 2\nb nan 2\n", 2, r"vector of 'b' is not finite"),
        ("3 2\na 1 2\nb 1 2\n", 1, r"header announces 3 vectors but the file holds 2"),
        ("a 1 2\nb 1 2\na 3 4\n", 3, r"token 'a' already has a vector on line 1"),
        ("a 1 2\n\nb 1 2\n", 2, r"blank line"),
        ("a\nb 1 2\n", 1, r"expected a token followed by its vector values"),
        ("2 0\na\nb\n", 1, r"dimension must be at least 1"),
    ],
    ids=[
        "too-few",
        "too-many",
        "not-a-number",
        "comma",
        "nan",
        "header-count",
        "duplicate",
        "blank",
        "no-values",
        "dim0",
    ],
)
def test_malformed_lines_name_the_line(tmp_path: Path, text: str, line: int, expected: str) -> None:
    """Each malformed file fails with DataError '<file>, line <N>: <what was expected>'."""
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}, line {line}: "), message
    assert re.search(expected, message), message


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert "file is empty" in error_of(write(tmp_path, "\n \n"))
    assert "holds no vectors" in error_of(write(tmp_path, "0 300\n"))
    assert "no such file" in error_of(tmp_path / "missing.txt")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a 1 2\ncaf\xe9 1 2\n")
    message = error_of(path)
    assert str(path) in message and "not valid UTF-8" in message and "line 2" in message


def test_word2vec_binary_is_refused_clearly(tmp_path: Path) -> None:
    """A word2vec .bin file ('N D' then raw float32 bytes) is named as such, with how to convert it."""
    path = tmp_path / "vectors.bin"
    body = b"".join(w + b" " + struct.pack("<3f", 0.1, -2.5, 3.0) + b"\n" for w in (b"the", b"of"))
    path.write_bytes(b"2 3\n" + body)
    message = error_of(path)
    assert message.startswith(f"{path}: this looks like a word2vec binary file")
    assert "binary=False" in message
