"""A built-in offline task: which language is a single word from? Built from wordfreq's word lists.

Each language contributes its most frequent words. A word that several lists share has no single
right answer, so it is either dropped everywhere or given to the language that uses it most. Words
are put in splits by a seeded hash of the word itself, so a word lands in the same split on every
machine and Python version and never in two splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import wordfreq

from seqlab.data.errors import DataError
from seqlab.data.examples import TextExample
from seqlab.data.splits import SPLITS, check_fractions, hashed_split

# Latin-script languages, so that the task is about spelling rather than script.
DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs", "fi", "tr",
)  # fmt: skip


@dataclass
class LangidData:
    """The examples by split and what building them did, so a run can report its data honestly.

    ``listed`` counts each language's usable words before shared words were handled, ``kept`` after.
    ``shared`` is the number of distinct words in two or more lists; ``removed`` the (word, language)
    entries taken out because of them (all of them with ``drop``, all but the winner's otherwise).
    """

    splits: dict[str, list[TextExample]]
    languages: list[str]
    ambiguous: str
    listed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    shared: int = 0
    removed: int = 0

    def summary(self) -> str:
        sizes = " / ".join(f"{s} {len(self.splits[s]):,}" for s in SPLITS)
        per_language = ", ".join(f"{lang} {self.kept[lang]:,}" for lang in self.languages)
        action = "dropped" if self.ambiguous == "drop" else "given to their most frequent language"
        return (
            f"wordfreq language id: {sum(self.kept.values()):,} words in {len(self.languages)} languages "
            f"({sizes}); {self.shared:,} words shared by several languages {action}; "
            f"per language: {per_language}"
        )


def _check_languages(languages: Sequence[str]) -> list[str]:
    if isinstance(languages, str):
        raise DataError(f"languages must be a list of language codes, not the string {languages!r}")
    languages = list(languages)
    available = sorted(wordfreq.available_languages())
    unknown = [lang for lang in languages if lang not in available]
    if unknown:
        raise DataError(f"unknown language(s) {unknown} for wordfreq; available: {', '.join(available)}")
    duplicates = sorted({lang for lang in languages if languages.count(lang) > 1})
    if duplicates:
        raise DataError(f"languages listed more than once: {duplicates}")
    if len(languages) < 2:
        raise DataError(f"language identification needs at least 2 languages, got {languages}")
    return languages


def _word_list(lang: str, n: int, min_length: int) -> dict[str, int]:
    """The language's usable words (casefolded, alphabetic, long enough) -> 1-based frequency rank."""
    words: dict[str, int] = {}
    for rank, raw in enumerate(wordfreq.top_n_list(lang, n), start=1):
        word = raw.casefold()
        if len(word) >= min_length and word.isalpha():
            words.setdefault(word, rank)
    return words


def _check_settings(ambiguous: str, words_per_language: int, min_length: int) -> None:
    if ambiguous not in ("drop", "most_frequent"):
        raise DataError(f"ambiguous must be 'drop' or 'most_frequent', got {ambiguous!r}")
    if words_per_language < 1 or min_length < 1:
        raise DataError(
            f"words_per_language and min_length must be at least 1, got {words_per_language} and {min_length}"
        )


def _shared_words(
    lists: dict[str, dict[str, int]], ambiguous: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Words in several languages' lists -> those languages (in the order given), and with
    ``most_frequent`` each such word -> the language that keeps it."""
    owners: dict[str, list[str]] = {}
    for lang, words in lists.items():
        for word in words:
            owners.setdefault(word, []).append(lang)
    shared = {word: langs for word, langs in owners.items() if len(langs) > 1}
    winner: dict[str, str] = {}
    if ambiguous == "most_frequent":
        for word, langs in shared.items():
            # max() returns the first of equal maxima, so ties go to the language listed first.
            winner[word] = max(langs, key=lambda code, w=word: wordfreq.word_frequency(w, code))
    return shared, winner


def word_language_examples(
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    words_per_language: int = 5000,
    ambiguous: Literal["drop", "most_frequent"] = "drop",
    min_length: int = 2,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> LangidData:
    """Single words labelled with their language, from each language's top ``words_per_language`` words.

    Args:
        languages: wordfreq language codes (at least 2).
        words_per_language: how many of each language's most frequent words to consider (before
            filtering, so fewer are kept).
        ambiguous: ``drop`` removes words found in several lists from all of them; ``most_frequent``
            keeps each once, labelled with the language where ``wordfreq.word_frequency`` is highest
            (ties go to the language listed first).
        min_length: shortest word kept, in characters.
        seed: seed of the word -> split hash.
        fractions: train/validation/test shares of the words.
    """
    languages = _check_languages(languages)
    fractions = check_fractions(fractions)
    _check_settings(ambiguous, words_per_language, min_length)
    lists = {lang: _word_list(lang, words_per_language, min_length) for lang in languages}
    shared, winner = _shared_words(lists, ambiguous)
    data = LangidData({s: [] for s in SPLITS}, languages, ambiguous)
    data.listed = {lang: len(words) for lang, words in lists.items()}
    data.kept = dict.fromkeys(languages, 0)
    data.shared = len(shared)
    survivors = 0 if ambiguous == "drop" else 1
    data.removed = sum(len(langs) - survivors for langs in shared.values())
    for lang in languages:
        for word, rank in lists[lang].items():
            if word in shared and winner.get(word) != lang:
                continue
            data.kept[lang] += 1
            split = hashed_split(word, seed, fractions)
            data.splits[split].append(TextExample(word, lang, f"wordfreq:{lang}:{rank}"))

    empty = [lang for lang in languages if data.kept[lang] == 0]
    if empty:
        raise DataError(
            f"no words left for {empty} (words_per_language={words_per_language}, min_length={min_length},"
            f" ambiguous={ambiguous!r}); raise words_per_language"
        )
    return data
