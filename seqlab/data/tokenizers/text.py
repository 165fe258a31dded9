"""Tokenizers: characters, whitespace words, and sentencepiece subwords (BPE or unigram).

A tokenizer is configured in YAML, fitted on the training split (``fit``), and saved inside
checkpoints as a plain ``state_dict`` (strings and bytes only, so checkpoints load with
``weights_only=True``). ``tokenizer_from_state`` rebuilds it for generation and evaluation.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.errors import DataError

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
    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text."""

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


class _ListVocabulary(Tokenizer):
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


class CharTokenizer(_ListVocabulary):
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
        chars = sorted(c for c, n in counts.items() if n >= self.min_freq)
        if not chars:
            raise DataError("cannot build a character vocabulary: the training split has no text")
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

    def decode(self, ids: Iterable[int]) -> str:
        vocab = self.vocab
        return "".join("\ufffd" if i == 0 else vocab[i] for i in (int(i) for i in ids))

    def state_dict(self) -> dict[str, Any]:
        return {"type": "char", "vocab": list(self.vocab)}


class SentencePieceTokenizer(Tokenizer):
    """Sentencepiece subwords, trained on the training split (cached by content hash) or loaded.

    Newlines, tabs and runs of spaces survive (identity normalisation, byte fallback), so decoding
    gives back the exact text, which matters for code and formatted prose.

    Args:
        model_type: ``bpe`` or ``unigram``.
        vocab_size: number of pieces to learn.
        model_file: an existing ``.model`` file to load instead of training.
        max_sentences: at most this many training lines are sampled for training.
    """

    kind = "subword"

    def __init__(
        self,
        model_type: str = "bpe",
        vocab_size: int = 2000,
        model_file: str | None = None,
        max_sentences: int = 2_000_000,
    ) -> None:
        if model_type not in ("bpe", "unigram"):
            raise DataError(f"sentencepiece model_type must be 'bpe' or 'unigram', got {model_type!r}")
        self.model_type, self.requested_size = model_type, vocab_size
        self.model_file, self.max_sentences = model_file, max_sentences
        self._proto: bytes | None = None
        self._sp: Any = None

    def _load_proto(self, proto: bytes) -> None:
        import sentencepiece as spm

        self._proto = proto
        self._sp = spm.SentencePieceProcessor(model_proto=proto)

    def fit(self, texts: Sequence[str], cache_dir: str | os.PathLike[str]) -> SentencePieceTokenizer:
        if self._sp is not None:
            return self
        if self.model_file:
            path = Path(self.model_file)
            if not path.is_file():
                raise DataError(f"{path}: no such sentencepiece model file")
            self._load_proto(path.read_bytes())
            return self
        digest = hashlib.sha256(f"{self.model_type}|{self.requested_size}|{self.max_sentences}".encode())
        for text in texts:
            data = text.encode()
            digest.update(len(data).to_bytes(8, "little"))  # document boundaries change the lines
            digest.update(data)
        cached = Path(cache_dir) / "sentencepiece" / f"{digest.hexdigest()[:20]}.model"
        if not cached.is_file():
            self._train(texts, cached)
        self._load_proto(cached.read_bytes())
        return self

    def _train(self, texts: Sequence[str], target: Path) -> None:
        import sentencepiece as spm

        lines = [line for text in texts for line in text.split("\n") if line]
        if not lines:
            raise DataError("cannot train sentencepiece: the training split has no text")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=model,
                vocab_size=self.requested_size,
                model_type=self.model_type,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                user_defined_symbols=["\n"],
                allow_whitespace_only_pieces=True,
                byte_fallback=True,
                character_coverage=1.0,
                hard_vocab_limit=False,  # small corpora get a smaller vocabulary instead of an error
                input_sentence_size=self.max_sentences,
                shuffle_input_sentence=True,
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                minloglevel=2,
                num_threads=os.cpu_count() or 1,
            )
        except RuntimeError as err:
            raise DataError(f"sentencepiece training failed: {err}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so concurrent ranks or a crash never leave a half-written model.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(model.getvalue())
        os.replace(tmp.name, target)

    def _processor(self) -> Any:
        if self._sp is None:
            raise RuntimeError("SentencePieceTokenizer used before fit()")
        return self._sp

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._processor().encode(text), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        return self._processor().decode([int(i) for i in ids])

    @property
    def vocab_size(self) -> int:
        return int(self._processor().get_piece_size())

    def token_strings(self) -> list[str]:
        sp = self._processor()
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

    @property
    def unk_id(self) -> int:
        return int(self._processor().unk_id())

    def state_dict(self) -> dict[str, Any]:
        self._processor()
        return {"type": "sentencepiece", "model_type": self.model_type, "model": self._proto}


class WordTokenizer(_ListVocabulary):
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
        counts: Counter[str] = Counter()
        for tokens in sentences:
            counts.update(self._norm(t) for t in tokens)
        ranked = sorted((w for w, n in counts.items() if n >= self.min_freq), key=lambda w: (-counts[w], w))
        if not ranked:
            raise DataError("cannot build a word vocabulary: the training split has no words")
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

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.vocab[int(i)] for i in ids)

    def state_dict(self) -> dict[str, Any]:
        return {"type": "word", "vocab": list(self.vocab), "lowercase": self.lowercase}


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a fitted tokenizer from its ``state_dict`` (as stored in a checkpoint)."""
    if state.get("type") == "char":
        return CharTokenizer(vocab=state["vocab"])
    if state.get("type") == "word":
        return WordTokenizer(lowercase=state.get("lowercase", False), vocab=state["vocab"])
    if state.get("type") == "sentencepiece":
        tok = SentencePieceTokenizer(model_type=state.get("model_type", "bpe"))
        tok._load_proto(state["model"])
        return tok
    raise DataError(f"unknown tokenizer state type {state.get('type')!r}")
