"""Characters: one id per Unicode character seen in training."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.modules.checked_settings import DataSettingError, whole_number
from seqlab.data.tokenizers.base import UNK, ListVocabulary


class CharTokenizer(ListVocabulary):
    """One id per Unicode character seen in training (at least ``min_freq`` times); id 0 is unknown.

    Args:
        min_freq: characters rarer than this in the training split map to the unknown id.
        vocab: a fixed vocabulary (unknown token first); when given, ``fit`` keeps it.
    """

    kind = "char"

    def __init__(self, min_freq: int = 1, vocab: list[str] | None = None) -> None:
        self.min_freq = min_freq
        self.vocab: list[str] = list(vocab) if vocab else []
        self._lookup: np.ndarray | None = None

    def fit(self, texts: Sequence[str], cache_dir: str | os.PathLike[str] = "") -> CharTokenizer:
        if self.vocab:
            return self
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        whole_number("min_freq", self.min_freq)
        if not counts:
            raise DataError("cannot build a character vocabulary: the training split has no text")
        chars = sorted(c for c, n in counts.items() if n >= self.min_freq)
        if not chars:
            most = max(counts.values())
            expected = f"at most {most}: no training character occurs {self.min_freq} times"
            raise DataSettingError("min_freq", self.min_freq, expected)
        self.vocab = [UNK, *chars]
        self._lookup = None
        return self

    def _table(self) -> np.ndarray:
        if self._lookup is None:
            if not self.vocab:
                raise RuntimeError("CharTokenizer.encode called before fit()")
            top = max(ord(c) for c in self.vocab[1:]) + 1
            table = np.zeros(top, dtype=np.int32)
            for i, c in enumerate(self.vocab[1:], start=1):
                table[ord(c)] = i
            self._lookup = table
        return self._lookup

    def encode(self, text: str) -> np.ndarray:
        table = self._table()
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        inside = points < len(table)
        ids = np.zeros(len(points), dtype=np.int32)
        ids[inside] = table[points[inside]]
        return ids

    def detokenize(self, ids: Iterable[int]) -> str:
        vocab = self.vocab
        return "".join("\ufffd" if i == 0 else vocab[i] for i in (int(i) for i in ids))

    def state_dict(self) -> dict[str, Any]:
        return {"type": "char", "vocab": list(self.vocab)}
