"""What every tokenizer is (text <-> ids): the base of characters, whitespace words, and sentencepiece
subwords (BPE or unigram).

A tokenizer is configured in YAML, fitted on the training split (``fit``), and saved inside
checkpoints as a plain ``state_dict`` (strings and bytes only, so checkpoints load with
``weights_only=True``). ``tokenizer_from_state`` rebuilds it for generation and evaluation.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

UNK = "<unk>"


class Tokenizer(ABC):
    """Maps text to integer ids and back; ``kind`` is ``char`` or ``subword`` (it picks the metric)."""

    kind: str

    @abstractmethod
    def fit(self, texts: Sequence[str], cache_dir: str | os.PathLike[str]) -> Tokenizer:
        """Learn the vocabulary from training texts (a no-op for a tokenizer that is already built)."""

    @abstractmethod
    def encode(self, text: str) -> np.ndarray:
        """Text to an int32 array of ids."""

    @abstractmethod
    def detokenize(self, ids: Iterable[int]) -> str:
        """Ids back to text."""

    @property
    def samples(self) -> bool:
        """Whether training texts get a sampled segmentation (:meth:`encode_sampled`) each epoch."""
        return False

    def encode_sampled(self, text: str, seed: int) -> np.ndarray:
        """A segmentation of ``text`` drawn with ``seed``, for training (subword regularization);
        tokenizers that do not sample return :meth:`encode`."""
        return self.encode(text)

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def token_strings(self) -> list[str]:
        """The string of every id, in id order (to match pretrained embedding files)."""

    @property
    @abstractmethod
    def unk_id(self) -> int: ...

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as plain types."""

    def fingerprint(self) -> str:
        """A content hash of the fitted tokenizer, used to key caches of encoded data."""
        state = self.state_dict()
        digest = hashlib.sha256(state["type"].encode())
        for key in sorted(state):
            value = state[key]
            digest.update(key.encode())
            digest.update(value if isinstance(value, bytes) else repr(value).encode())
        return digest.hexdigest()[:16]


class ListVocabulary(Tokenizer):
    """A tokenizer whose vocabulary is a list of strings, id = position, unknown first (id 0)."""

    vocab: list[str]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_strings(self) -> list[str]:
        return list(self.vocab)

    @property
    def unk_id(self) -> int:
        return 0
