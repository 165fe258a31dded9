"""read_text_file: strict UTF-8 reading with errors that name the file and the place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqlab.data.errors import DataError
from seqlab.data.formats.text_files import read_text_file


def test_missing_file_is_refused_by_name(tmp_path: Path) -> None:
    """A path that does not exist raises DataError naming the path."""
    path = tmp_path / "nowhere" / "train.txt"
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: no such file"):
        read_text_file(path)


def test_missing_relative_path_says_where_it_was_looked_for() -> None:
    """The shipped configs name data relative to the repository (`../shared/data/...`); run from
    another folder, the error says which folder the path was read from. An absolute path needs no
    such note."""
    with pytest.raises(DataError) as info:
        read_text_file(Path("data/train.txt"))
    assert str(info.value) == (
        f"data/train.txt: no such file (expected a UTF-8 text file; looked in {Path.cwd()}, the working "
        "directory)"
    )
    with pytest.raises(DataError) as absolute:
        read_text_file(Path.cwd() / "train.txt")
    assert str(absolute.value) == f"{Path.cwd() / 'train.txt'}: no such file (expected a UTF-8 text file)"


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory is not a text file: DataError naming the directory."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    with pytest.raises(DataError, match=rf"^{re.escape(str(folder))}: not a regular file"):
        read_text_file(folder)


@pytest.mark.parametrize(
    "content",
    [b"", b"  \n\t\r\n   \n", b"\xef\xbb\xbf\n"],
    ids=["zero-bytes", "whitespace-only", "bom-only"],
)
def test_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    """Zero bytes, only whitespace, or only a UTF-8 BOM (what editors save for "empty") all count as
    empty: DataError naming the file."""
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: file is empty"):
        read_text_file(path)


def test_invalid_utf8_names_file_offset_line_and_column(tmp_path: Path) -> None:
    """A bad byte in the middle of line 3 is reported with its byte offset, line, column and hex value."""
    path = tmp_path / "latin1.txt"
    #        line 1 (6 bytes)  line 2 (7 bytes)  line 3: "ab" then the bad byte
    path.write_bytes(b"first\n" + b"second\n" + b"ab\xffcd\n" + b"fourth\n")
    with pytest.raises(DataError) as info:
        read_text_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid UTF-8 at byte offset 15 (line 3, column 3)")
    assert "bytes ff" in message
    assert "iconv" in message


def test_invalid_utf8_on_first_line_counts_columns_from_one(tmp_path: Path) -> None:
    """With no newline before the bad byte, the line is 1 and the column is the 1-based byte position."""
    path = tmp_path / "cp1252.txt"
    path.write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(DataError, match=r"byte offset 3 \(line 1, column 4\): bytes e9"):
        read_text_file(path)


def test_bom_is_stripped(tmp_path: Path) -> None:
    """A leading UTF-8 byte order mark is removed; the rest is returned as is."""
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfdef f():\n    return 1\n")
    assert read_text_file(path) == "def f():\n    return 1\n"


def test_valid_text_is_returned_exactly(tmp_path: Path) -> None:
    """Valid UTF-8 comes back byte for byte: CRLF, tabs, trailing spaces, non-ASCII and emoji kept."""
    text = "  indented\r\n\tx = 'héllo ∑ 😀'  \n\n\nlast line without newline \u00a0"
    path = tmp_path / "exact.txt"
    path.write_bytes(text.encode("utf-8"))
    assert read_text_file(path) == text
    assert read_text_file(str(path)) == text
