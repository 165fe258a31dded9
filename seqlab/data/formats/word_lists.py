"""Word lists for lexicon-biased decoding: a text file of words, or wordfreq's most frequent words."""

from __future__ import annotations

from pathlib import Path

from seqlab.data.errors import DataError

WORDFREQ = "wordfreq:"


def read_word_list(spec: str) -> list[str]:
    """Words from ``spec``: a UTF-8 file with one word per line (``#`` comments and blank lines
    skipped), or ``wordfreq:<lang>:<n>`` for the ``n`` most frequent words of a language in wordfreq.

    Raises:
        DataError: the file is missing or empty, or the wordfreq spec is malformed.
    """
    if spec.startswith(WORDFREQ):
        parts = spec[len(WORDFREQ) :].split(":")
        if len(parts) != 2 or not parts[1].isdigit():
            raise DataError(f"word list {spec!r}: expected wordfreq:<language>:<number of words>")
        from wordfreq import top_n_list

        words = top_n_list(parts[0], int(parts[1]))
        if not words:
            raise DataError(f"word list {spec!r}: wordfreq has no words for language {parts[0]!r}")
        return words
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"{path}: no such word list (expected one word per line, or wordfreq:<lang>:<n>)")
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.append(word)
    if not words:
        raise DataError(f"{path}: the word list is empty")
    return words
