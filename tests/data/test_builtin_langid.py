"""The built-in word language identification data: filtering, shared words, splits and errors."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
import wordfreq

from seqlab.data.builtin.langid import DEFAULT_LANGUAGES, LangidData, word_language_examples
from seqlab.data.errors import DataError
from seqlab.data.splits import SPLITS, check_fractions
from seqlab.data.splits import hashed_split as word_split

N = 500  # words per language in most tests: small enough to be quick, large enough to share words


def _labels(data: LangidData) -> dict[str, str]:
    """word -> label over all splits (asserting that no word appears twice)."""
    labels: dict[str, str] = {}
    for split in SPLITS:
        for ex in data.splits[split]:
            assert ex.text not in labels, f"{ex.text!r} appears twice"
            labels[ex.text] = ex.label
    return labels


def _split_of(data: LangidData) -> dict[str, str]:
    return {ex.text: split for split in SPLITS for ex in data.splits[split]}


def _owners(languages: list[str], n: int, min_length: int = 2) -> dict[str, list[str]]:
    """Independent recomputation: word -> the languages whose filtered top-n list holds it."""
    owners: dict[str, list[str]] = {}
    for lang in languages:
        words = {w.casefold() for w in wordfreq.top_n_list(lang, n)}
        for word in sorted(w for w in words if w.isalpha() and len(w) >= min_length):
            owners.setdefault(word, []).append(lang)
    return owners


@pytest.fixture(scope="module")
def dropped() -> LangidData:
    return word_language_examples(words_per_language=N)


@pytest.fixture(scope="module")
def most_frequent() -> LangidData:
    return word_language_examples(words_per_language=N, ambiguous="most_frequent")


def test_default_languages_are_many_available_and_latin(dropped: LangidData) -> None:
    """At least 10 default languages, all in wordfreq, and their kept words in Latin script only."""
    assert len(DEFAULT_LANGUAGES) >= 10
    assert len(set(DEFAULT_LANGUAGES)) == len(DEFAULT_LANGUAGES)
    assert set(DEFAULT_LANGUAGES) <= set(wordfreq.available_languages())
    assert dropped.languages == list(DEFAULT_LANGUAGES)
    for split in SPLITS:
        for ex in dropped.splits[split]:
            assert all(unicodedata.name(ch).startswith("LATIN") for ch in ex.text), ex


def test_words_are_filtered_and_point_at_their_rank(dropped: LangidData) -> None:
    """Casefolded, alphabetic, min_length long; ``where`` names the language and the word's rank."""
    for split in SPLITS:
        for ex in dropped.splits[split]:
            assert ex.text.isalpha() and len(ex.text) >= 2 and ex.text.casefold() == ex.text
            source, lang, rank = ex.where.split(":")
            assert source == "wordfreq" and lang == ex.label
            assert wordfreq.top_n_list(lang, N)[int(rank) - 1].casefold() == ex.text
    longer = word_language_examples(words_per_language=N, min_length=4)
    assert min(len(ex.text) for s in SPLITS for ex in longer.splits[s]) == 4


def test_deterministic_and_seeded() -> None:
    """The same arguments give identical data; another seed moves words between splits."""
    a = word_language_examples(words_per_language=N)
    b = word_language_examples(words_per_language=N)
    assert a.splits == b.splits
    c = word_language_examples(words_per_language=N, seed=1)
    assert _labels(a) == _labels(c)  # same words and labels...
    assert _split_of(a) != _split_of(c)  # ...in different splits
    moved = sum(_split_of(a)[w] != s for w, s in _split_of(c).items())
    assert moved > 0.1 * len(_split_of(a))


def test_split_hash_is_pinned() -> None:
    """The word -> split assignment is a fixed function of (seed, word), the same on every machine."""
    expected = {
        "haus": "validation", "maison": "train", "casa": "test", "house": "train", "kissa": "test",
        "ev": "test", "dom": "train", "huis": "train", "hus": "validation", "pies": "test",
    }  # fmt: skip
    assert {w: word_split(w, 0, (0.4, 0.3, 0.3)) for w in expected} == expected
    assert word_split("maison", 1, (0.8, 0.1, 0.1)) == "test"


@pytest.mark.parametrize("mode", ["drop", "most_frequent"])
def test_no_word_in_two_splits(mode: str, dropped: LangidData, most_frequent: LangidData) -> None:
    data = dropped if mode == "drop" else most_frequent
    labels = _labels(data)  # asserts uniqueness across and within splits
    assert len(labels) == sum(data.kept.values())
    assert Counter(labels.values()) == Counter(data.kept)
    for split in SPLITS:
        assert all(word_split(ex.text, 0, (0.8, 0.1, 0.1)) == split for ex in data.splits[split])


def test_split_proportions_follow_fractions() -> None:
    data = word_language_examples(words_per_language=2000, fractions=(0.6, 0.3, 0.1))
    total = sum(len(v) for v in data.splits.values())
    assert total > 10000
    for split, fraction in zip(SPLITS, (0.6, 0.3, 0.1), strict=True):
        assert abs(len(data.splits[split]) / total - fraction) < 0.02
    only_train = word_language_examples(words_per_language=N, fractions=(1, 0, 0))
    assert not only_train.splits["validation"] and not only_train.splits["test"]


def test_shared_words_are_dropped(dropped: LangidData) -> None:
    """Words in several lists ("die": de and nl; "son": fr, es, tr; "in": most) are nowhere."""
    labels = _labels(dropped)
    owners = _owners(list(DEFAULT_LANGUAGES), N)
    for word in ("die", "son", "in", "van", "per"):
        assert len(owners[word]) > 1 and word not in labels
    shared = {w for w, langs in owners.items() if len(langs) > 1}
    assert shared.isdisjoint(labels)
    assert set(labels) == {w for w, langs in owners.items() if len(langs) == 1}
    assert dropped.shared == len(shared)
    assert dropped.removed == sum(len(owners[w]) for w in shared)
    assert sum(dropped.listed.values()) - dropped.removed == sum(dropped.kept.values())


def test_most_frequent_labels_by_argmax_frequency(most_frequent: LangidData) -> None:
    labels = _labels(most_frequent)
    assert labels["die"] == "de" and labels["son"] == "fr" and labels["in"] == "nl" and labels["van"] == "nl"
    owners = _owners(list(DEFAULT_LANGUAGES), N)
    assert set(labels) == set(owners)
    for word, langs in owners.items():
        freqs = [wordfreq.word_frequency(word, lang) for lang in langs]
        assert labels[word] == langs[freqs.index(max(freqs))], word
    shared = sum(len(langs) > 1 for langs in owners.values())
    assert most_frequent.shared == shared
    assert most_frequent.removed == sum(len(langs) - 1 for langs in owners.values())
    assert "given to their most frequent language" in most_frequent.summary()


def test_frequency_ties_go_to_the_first_language() -> None:
    """ "a" is equally frequent in English and Spanish in wordfreq 3.1: the first listed wins."""
    if wordfreq.word_frequency("a", "en") != wordfreq.word_frequency("a", "es"):
        pytest.skip("this wordfreq version has no tie for 'a' between en and es")
    for languages in (["en", "es"], ["es", "en"]):
        data = word_language_examples(languages, N, "most_frequent", min_length=1)
        assert _labels(data)["a"] == languages[0]


def test_summary_and_stats(dropped: LangidData) -> None:
    line = dropped.summary()
    assert "\n" not in line and "12 languages" in line and "dropped" in line
    assert set(dropped.kept) == set(DEFAULT_LANGUAGES)
    assert all(0 < dropped.kept[lang] <= dropped.listed[lang] <= N for lang in DEFAULT_LANGUAGES)


def test_argument_errors() -> None:
    with pytest.raises(DataError, match=r"unknown language.*'xx'.*available: .*\ben\b"):
        word_language_examples(["en", "xx"], N)
    with pytest.raises(DataError, match="at least 2 languages"):
        word_language_examples(["en"], N)
    with pytest.raises(DataError, match="not the string"):
        word_language_examples("en", N)
    with pytest.raises(DataError, match="more than once"):
        word_language_examples(["en", "de", "en"], N)
    with pytest.raises(DataError, match="ambiguous"):
        word_language_examples(words_per_language=N, ambiguous="first")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="at least 1"):
        word_language_examples(words_per_language=0)
    for bad in [
        (0.5, 0.5, 0.5),
        (1.2, -0.1, -0.1),
        (0.8, 0.2),
        (float("nan"), 0.5, 0.5),
        (0.8, 0.1, 0.1, 0.0),
    ]:
        with pytest.raises(DataError, match="fractions"):
            word_language_examples(words_per_language=N, fractions=bad)  # type: ignore[arg-type]
    assert check_fractions([0.7, 0.2, 0.1]) == (0.7, 0.2, 0.1)


def test_language_with_no_words_left_is_an_error() -> None:
    """The top Spanish and Portuguese word is "de" in both: dropped, it leaves two empty classes."""
    with pytest.raises(DataError, match=r"no words left for \['es', 'pt'\]"):
        word_language_examples(["es", "pt"], 1)
