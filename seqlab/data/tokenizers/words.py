"""Whitespace words: one id per word seen in training."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.modules.checked_settings import DataSettingError, whole_number
from seqlab.data.tokenizers.base import UNK, ListVocabulary


class WordTokenizer(ListVocabulary):
    """Whitespace-separated words; the ``max_vocab`` most frequent training words that occur at least
    ``min_freq`` times get ids, every other word maps to id 0 (unknown).

    Args:
        max_vocab: keep at most this many words (``None``: no cap); ties break alphabetically.
        min_freq: words rarer than this in the training split are unknown.
        lowercase: fold case before lookup (both in training and later).
        vocab: a fixed vocabulary (unknown token first); when given, ``fit`` keeps it.
    """

    kind = "word"

    def __init__(
        self,
        max_vocab: int | None = 50_000,
        min_freq: int = 1,
        lowercase: bool = False,
        vocab: list[str] | None = None,
    ) -> None:
        self.max_vocab, self.min_freq, self.lowercase = max_vocab, min_freq, lowercase
        self.vocab: list[str] = list(vocab) if vocab else []
        self._ids = {word: i for i, word in enumerate(self.vocab)}

    def _norm(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def fit(self, texts: Sequence[str], cache_dir: str | os.PathLike[str] = "") -> WordTokenizer:
        return self.fit_tokens(text.split() for text in texts)

    def fit_tokens(self, sentences: Iterable[Sequence[str]]) -> WordTokenizer:
        """Fit on pre-tokenized sentences (CoNLL tokens may contain spaces)."""
        if self.vocab:
            return self
        whole_number("min_freq", self.min_freq)
        whole_number("max_vocab", self.max_vocab, optional=True)
        counts: Counter[str] = Counter()
        for tokens in sentences:
            counts.update(self._norm(t) for t in tokens)
        if not counts:
            raise DataError("cannot build a word vocabulary: the training split has no words")
        ranked = sorted((w for w, n in counts.items() if n >= self.min_freq), key=lambda w: (-counts[w], w))
        if not ranked:
            most = max(counts.values())
            raise DataSettingError(
                "min_freq",
                self.min_freq,
                f"at most {most}: no training word occurs {self.min_freq} times (the most frequent, "
                f"{max(counts, key=lambda w: counts[w])!r}, occurs {most})",
            )
        self.vocab = [UNK, *ranked[: self.max_vocab]]
        self._ids = {word: i for i, word in enumerate(self.vocab)}
        return self

    def encode(self, text: str) -> np.ndarray:
        return self.encode_tokens(text.split())

    def encode_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        if not self.vocab:
            raise RuntimeError("WordTokenizer.encode called before fit()")
        ids = self._ids
        return np.fromiter((ids.get(self._norm(t), 0) for t in tokens), dtype=np.int32, count=len(tokens))

    def detokenize(self, ids: Iterable[int]) -> str:
        return " ".join(self.vocab[int(i)] for i in ids)

    def state_dict(self) -> dict[str, Any]:
        return {"type": "word", "vocab": list(self.vocab), "lowercase": self.lowercase}
