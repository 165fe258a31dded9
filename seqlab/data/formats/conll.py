"""Reading and writing token-labelling data: CoNLL-U, CoNLL-style column files, and raw text.

Readers keep each sentence's original lines (``LabelledSentence.source``) so the writers can put
predicted tags back into the input's own format and leave every other line as it was. A sentence's
``where`` is ``path:LINE`` of its first line; token ``i`` sits on line ``LINE + token_rows[i]``.
Bad input is refused with ``DataError("path:LINE: what is wrong; what was expected")``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, TextIO

from seqlab.data.errors import DataError, no_such_file
from seqlab.data.examples import LabelledSentence
from seqlab.data.formats.tables import count_noun
from seqlab.data.formats.text_files import read_text_lines

TagField = Literal["upos", "xpos"]

CONLLU_COLUMNS = 10
CONLLU_TAG_INDEX = {"upos": 3, "xpos": 4}
DOCSTART = "-DOCSTART-"
_CONLLU_ID = re.compile(r"\d+(?:-\d+|\.\d+)?")  # a word, a multiword-token range, or an empty node


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(1-based number of the first line, lines) of each run of non-blank lines. A whitespace-only
    line is blank: WNUT-17's train file separates most sentences by a line holding a single TAB."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _conllu_fields(line: str, where: str) -> list[str]:
    fields = line.split("\t")
    if len(fields) != CONLLU_COLUMNS:
        spaces = " (columns must be separated by tabs)" if len(fields) < CONLLU_COLUMNS else ""
        found = f"{len(fields)} tab-separated column{'' if len(fields) == 1 else 's'}"
        raise DataError(
            f"{where}: {found}; expected {CONLLU_COLUMNS} "
            f"(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC){spaces}"
        )
    return fields


def _is_next_word(word_id: str, words: int, where: str) -> bool:
    """Whether ``word_id`` is a word (the next one after ``words``) rather than a multiword-token range
    or an empty node; any other ID is an error."""
    if not _CONLLU_ID.fullmatch(word_id):
        raise DataError(
            f"{where}: ID {word_id!r} is not an integer; expected a word ID (1, 2, ...), "
            f"a range (1-2) or an empty node (1.1)"
        )
    if not word_id.isdigit():
        return False
    if int(word_id) != words + 1:
        raise DataError(
            f"{where}: word ID {word_id} after {words} words; expected {words + 1} "
            f"(word IDs count 1, 2, 3, ... in each sentence, with a blank line between sentences)"
        )
    return True


def read_conllu(
    path: str | os.PathLike[str], tag_field: TagField = "upos", require_tags: bool = True
) -> list[LabelledSentence]:
    """Read a CoNLL-U file (as Universal Dependencies distributes it): FORM as tokens, UPOS or XPOS as tags.

    Comments, multiword-token ranges ("1-2") and empty nodes ("8.1") are not tokens but stay in
    ``source``, so ``write_conllu`` reproduces them. ``require_tags=False`` reads input to be tagged:
    the tag column is not read (it may be "_") and ``tags`` is ``None``.
    """
    if tag_field not in CONLLU_TAG_INDEX:
        raise ValueError(f"tag_field must be 'upos' or 'xpos', got {tag_field!r}")
    path = Path(path)
    tag_index = CONLLU_TAG_INDEX[tag_field]
    other = "xpos" if tag_field == "upos" else "upos"
    sentences = []
    for start, block in _blocks(read_text_lines(path, "no sentences", "CoNLL-U sentences")):
        tokens: list[str] = []
        tags: list[str] = []
        rows: list[int] = []
        for row, line in enumerate(block):
            where = f"{path}:{start + row}"
            if line.startswith("#"):
                continue
            fields = _conllu_fields(line, where)
            if not _is_next_word(fields[0], len(tokens), where):
                continue  # a multiword-token range or an empty node: kept in source, not a token
            tag = fields[tag_index]
            if require_tags and tag in ("_", ""):
                raise DataError(
                    f"{where}: no {tag_field.upper()} tag ({tag!r}) for {fields[1]!r}; expected a tag in "
                    f"column {tag_index + 1} (if the file has {other.upper()} tags, use tag_field={other!r})"
                )
            tokens.append(fields[1])
            tags.append(tag)
            rows.append(row)
        if not tokens:
            raise DataError(f"{path}:{start}: comment lines without word lines; expected a sentence's words")
        sentences.append(
            LabelledSentence(tokens, tags if require_tags else None, f"{path}:{start}", block, rows)
        )
    if not sentences:
        raise DataError(f"{path}: no sentences (only blank lines; expected CoNLL-U sentences)")
    return sentences


def _column(index: int, count: int) -> int | None:
    """``index`` (negative counts from the end) resolved against ``count`` columns, or None if absent."""
    resolved = index if index >= 0 else count + index
    return resolved if 0 <= resolved < count else None


def read_conll(
    path: str | os.PathLike[str], token_column: int = 0, tag_column: int = -1
) -> list[LabelledSentence]:
    """Read a CoNLL-style column file (CoNLL-2003 and the like): whitespace-separated columns with
    the token and its tag, a blank (or whitespace-only) line between sentences, ``-DOCSTART-``
    documents skipped.

    A sentence whose lines have only one column is read as untagged (``tags`` is ``None``), so
    tokens-only files can be given to ``seqlab predict``; a file must not mix the two.
    """
    path = Path(path)
    sentences = []
    for start, block in _blocks(read_text_lines(path, "no sentences", "sentences of token and tag columns")):
        tokens: list[str] = []
        tags: list[str] = []
        rows: list[int] = []
        width = first = 0
        for row, line in enumerate(block):
            where = f"{path}:{start + row}"
            fields = line.split()
            if fields[0] == DOCSTART:
                continue  # a document boundary: kept in source, not a token
            if not width:
                width, first = len(fields), start + row
            elif len(fields) != width:
                raise DataError(
                    f"{where}: {count_noun(len(fields), 'column')}; expected {width} as on line {first}, "
                    f"the sentence's first line (a token with a space in it, or a missing blank line between "
                    f"sentences?)"
                )
            token = _column(token_column, width)
            tag = _column(tag_column, width)
            if width == 1 and token == 0:
                tokens.append(fields[0])  # token only: an untagged sentence
            elif token is None or tag is None or token == tag:
                raise DataError(
                    f"{where}: {count_noun(width, 'column')}; expected a token in column {token_column} "
                    f"and a tag in column {tag_column} (0-based, negative from the end)"
                )
            else:
                tokens.append(fields[token])
                tags.append(fields[tag])
            rows.append(row)
        if tokens:  # a block of -DOCSTART- lines only is no sentence
            sentences.append(
                LabelledSentence(tokens, tags if width > 1 else None, f"{path}:{start}", block, rows)
            )
    if not sentences:
        raise DataError(f"{path}: no sentences (expected lines of token and tag columns)")
    tagged = [s.tags is not None for s in sentences]
    if any(tagged) and not all(tagged):
        odd = sentences[tagged.index(False)]
        raise DataError(
            f"{odd.where}: a token-only sentence (one column); expected token and tag columns as in "
            f"{sentences[tagged.index(True)].where}"
        )
    return sentences


def read_token_lines(path: str | os.PathLike[str]) -> list[LabelledSentence]:
    """Read raw text to tag: one sentence per line, whitespace between tokens, blank lines skipped."""
    path = Path(path)
    sentences = [
        LabelledSentence(line.split(), None, f"{path}:{number}")
        for number, line in enumerate(read_text_lines(path, "no sentences", "one sentence per line"), 1)
        if line.strip()
    ]
    if not sentences:
        raise DataError(f"{path}: no sentences (only blank lines; expected one sentence per line)")
    return sentences


def _checked(sentences: Sequence[LabelledSentence], tags: Sequence[Sequence[str]]) -> None:
    if len(sentences) != len(tags):
        raise ValueError(f"{len(sentences)} sentences but {len(tags)} tag sequences")
    for sentence, sentence_tags in zip(sentences, tags, strict=True):
        where = sentence.where or "a sentence"
        if len(sentence.tokens) != len(sentence_tags):
            raise ValueError(f"{where}: {len(sentence.tokens)} tokens but {len(sentence_tags)} tags")
        for tag in sentence_tags:
            if not tag or any(c.isspace() for c in tag):
                raise ValueError(f"{where}: tag {tag!r} is empty or holds whitespace")


def write_conllu(
    sentences: Sequence[LabelledSentence],
    tags: Sequence[Sequence[str]],
    out: TextIO,
    tag_field: TagField = "upos",
) -> None:
    """Write sentences read by ``read_conllu`` with ``tags`` in the UPOS (or XPOS) column; every other
    column and line (comments, ranges, empty nodes) as read, and a blank line after each sentence."""
    if tag_field not in CONLLU_TAG_INDEX:
        raise ValueError(f"tag_field must be 'upos' or 'xpos', got {tag_field!r}")
    _checked(sentences, tags)
    tag_index = CONLLU_TAG_INDEX[tag_field]
    for sentence, sentence_tags in zip(sentences, tags, strict=True):
        if sentence.source is None or sentence.token_rows is None:
            raise ValueError(f"{sentence.where or 'a sentence'}: no CoNLL-U source lines to write tags into")
        lines = list(sentence.source)
        for row, tag in zip(sentence.token_rows, sentence_tags, strict=True):
            fields = lines[row].split("\t")
            fields[tag_index] = tag
            lines[row] = "\t".join(fields)
        out.write("".join(line + "\n" for line in lines) + "\n")


def write_conll(
    sentences: Sequence[LabelledSentence], tags: Sequence[Sequence[str]], out: TextIO, tag_column: int = -1
) -> None:
    """Write labelled sentences as tab-separated columns, a blank line after each sentence.

    With ``source`` (from ``read_conll``) each token line keeps its columns with the tag column
    replaced (or a tag column appended to a token-only line); without (raw text) lines are
    ``token<TAB>tag``.
    """
    _checked(sentences, tags)
    for sentence, sentence_tags in zip(sentences, tags, strict=True):
        if sentence.source is None or sentence.token_rows is None:
            lines = [f"{token}\t{tag}" for token, tag in zip(sentence.tokens, sentence_tags, strict=True)]
        else:
            lines = list(sentence.source)
            for row, tag in zip(sentence.token_rows, sentence_tags, strict=True):
                fields = lines[row].split()
                index = _column(tag_column, len(fields)) if len(fields) > 1 else None
                if index is None:
                    fields.append(tag)
                else:
                    fields[index] = tag
                lines[row] = "\t".join(fields)
        out.write("".join(line + "\n" for line in lines) + "\n")


def _looks_like_conllu(lines: Sequence[str]) -> bool:
    words = [line for line in lines if line.strip() and not line.startswith("#")]
    return bool(words) and all(
        len(fields) == CONLLU_COLUMNS and _CONLLU_ID.fullmatch(fields[0]) is not None
        for fields in (line.split("\t") for line in words)
    )


def detect_format(path: str | os.PathLike[str]) -> Literal["conllu", "conll", "text"]:
    """Guess a labelling input's format: by suffix (.conllu, .conll), else by its first lines.

    Content decides for other suffixes, .txt included (CoNLL-2003 is often shipped as train.txt):
    10 tab-separated columns with an integer ID are CoNLL-U, a ``-DOCSTART-`` line or tab-separated
    lines with the same number (2+) of columns are CoNLL; anything else is raw text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".conllu":
        return "conllu"
    if suffix == ".conll":
        return "conll"
    if not path.is_file():
        raise no_such_file(path, "a CoNLL-U, CoNLL or text file")
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    lines = head.decode("utf-8", errors="replace").removeprefix("\ufeff").splitlines()[:200]
    if len(head) == 1 << 16:
        lines = lines[:-1]  # the last line may be cut off
    if _looks_like_conllu(lines):
        return "conllu"
    content = [line for line in lines if line.strip()]
    if any(line.split()[0] == DOCSTART for line in content):
        return "conll"
    widths = {len(line.split("\t")) for line in content}
    if len(widths) == 1 and widths.pop() > 1:
        return "conll"
    return "text"
