"""A word-list bonus for CTC prefix beam search: prefixes that spell the start of a known word keep
their score, others pay a penalty, so the search prefers transcripts made of real words without
forbidding the rest (a closed lexicon as a soft constraint, the simplest language model there is)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

# The separator of an alphabet without a space (every transcript one word, as FSDD's digits): a label
# id no search emits, so the whole transcript is the word being spelt.
NO_SEPARATOR = -1


class WordListScorer:
    """Scores prefix extensions against a word list, in the label ids of an alphabet.

    Args:
        words: the known words.
        encode: text -> label ids (the alphabet's ``encode``).
        separator: the label id between words (a space), or ``NO_SEPARATOR``.
        penalty: log-score added for a letter that leaves every known word, and for a word (ended by
            the separator or by the utterance) that is not in the list; ``-inf`` forbids them.
    """

    def __init__(
        self,
        words: Iterable[str],
        encode: Callable[[str], Sequence[int]],
        separator: int,
        penalty: float = -6.0,
    ) -> None:
        self.separator, self.penalty = separator, penalty
        self.words: set[tuple[int, ...]] = set()
        self.prefixes: set[tuple[int, ...]] = {()}
        for word in words:
            ids = tuple(encode(word))
            if not ids or separator in ids:
                continue
            self.words.add(ids)
            self.prefixes.update(ids[:n] for n in range(1, len(ids)))

    def _partial(self, prefix: tuple[int, ...]) -> tuple[int, ...]:
        """The word being spelt at the end of ``prefix``."""
        for i in range(len(prefix) - 1, -1, -1):
            if prefix[i] == self.separator:
                return prefix[i + 1 :]
        return prefix

    def __call__(self, prefix: tuple[int, ...], label: int) -> float:
        partial = self._partial(prefix)
        if label == self.separator:
            return 0.0 if not partial or partial in self.words else self.penalty
        grown = (*partial, label)
        return 0.0 if grown in self.prefixes or grown in self.words else self.penalty

    def final(self, prefix: tuple[int, ...]) -> float:
        """The bonus of ending the utterance after ``prefix`` (its last word must be complete)."""
        partial = self._partial(prefix)
        return 0.0 if not partial or partial in self.words else self.penalty
