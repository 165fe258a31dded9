"""Subwords: a sentencepiece model (BPE or unigram) trained on the training split."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.cache import read_or_rebuild
from seqlab.data.errors import DataError
from seqlab.data.modules.checked_settings import DataSettingError
from seqlab.data.tokenizers.base import Tokenizer

# Byte fallback keeps a piece per byte, so sentencepiece refuses fewer pieces than these.
_AT_LEAST = "256 byte pieces + the training text's distinct characters + 2"


class SentencePieceTokenizer(Tokenizer):
    """Sentencepiece subwords, trained on the training split (cached by content hash) or loaded.

    Newlines, tabs and runs of spaces survive (identity normalisation, byte fallback), so decoding
    gives back the exact text, which matters for code and formatted prose.

    Args:
        model_type: ``bpe`` or ``unigram``.
        vocab_size: number of pieces to learn.
        model_file: an existing ``.model`` file to load instead of training.
        max_sentences: at most this many training lines are sampled for training.
        sampling_alpha: subword regularization, off by default. Training texts are segmented anew
            every epoch: for ``unigram``, a segmentation is sampled with probability proportional
            to its likelihood to the power ``sampling_alpha`` (Kudo 2018; 0.1-0.5, smaller: more
            varied); for ``bpe``, each merge is skipped with probability ``sampling_alpha``
            (BPE-dropout, Provilkov et al. 2020; about 0.1). Validation, test and prediction
            always use the best segmentation.
        sampling_nbest: ``unigram`` only: sample among this many best segmentations (``-1``: all
            of them).
    """

    kind = "subword"

    def __init__(
        self,
        model_type: str = "bpe",
        vocab_size: int = 2000,
        model_file: str | None = None,
        max_sentences: int = 2_000_000,
        sampling_alpha: float | None = None,
        sampling_nbest: int = -1,
    ) -> None:
        if model_type not in ("bpe", "unigram"):
            raise DataError(f"sentencepiece model_type must be 'bpe' or 'unigram', got {model_type!r}")
        self.model_type, self.requested_size = model_type, vocab_size
        self.model_file, self.max_sentences = model_file, max_sentences
        self.sampling_alpha, self.sampling_nbest = sampling_alpha, sampling_nbest
        self._proto: bytes | None = None
        self._sp: Any = None

    def _load_proto(self, proto: bytes) -> None:
        import sentencepiece as spm

        self._proto = proto
        self._sp = spm.SentencePieceProcessor(model_proto=proto)

    def fit(self, texts: Sequence[str], cache_dir: str | os.PathLike[str]) -> SentencePieceTokenizer:
        self._check_sampling()
        if self._sp is not None:
            return self
        if self.model_file:
            path = Path(self.model_file)
            if not path.is_file():
                raise DataError(f"{path}: no such sentencepiece model file")
            try:
                self._load_proto(path.read_bytes())
            except RuntimeError as err:
                raise DataError(f"{path}: not a sentencepiece model ({err})") from None
            return self
        size = self.requested_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DataSettingError("vocab_size", size, f"a positive whole number of pieces ({_AT_LEAST})")
        digest = hashlib.sha256(f"{self.model_type}|{self.requested_size}|{self.max_sentences}".encode())
        for text in texts:
            data = text.encode()
            digest.update(len(data).to_bytes(8, "little"))  # document boundaries change the lines
            digest.update(data)
        cached = Path(cache_dir) / "sentencepiece" / f"{digest.hexdigest()[:20]}.model"

        def trained() -> None:
            if not cached.is_file():
                self._train(texts, cached)
            self._load_proto(cached.read_bytes())

        read_or_rebuild(cached, trained, (RuntimeError,))
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
            needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(err))
            if needed:
                raise DataSettingError(
                    "vocab_size", self.requested_size, f"at least {needed.group(1)} ({_AT_LEAST})"
                ) from None
            raise DataError(f"sentencepiece training failed: {err}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so concurrent ranks or a crash never leave a half-written model.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(model.getvalue())
        os.replace(tmp.name, target)

    def _check_sampling(self) -> None:
        alpha, nbest = self.sampling_alpha, self.sampling_nbest
        if alpha is not None:
            number = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
            top = 1 if self.model_type == "bpe" else float("inf")
            if not number or not 0 < alpha < top:
                expected = (
                    "a merge-dropout probability above 0 and below 1" if top == 1 else "a number above 0"
                )
                raise DataSettingError("sampling_alpha", alpha, f"{expected} (or null: no sampling)")
        whole = isinstance(nbest, int) and not isinstance(nbest, bool)
        if not whole or (nbest != -1 and nbest < 2):
            raise DataSettingError("sampling_nbest", nbest, "-1 (every segmentation) or a whole number >= 2")

    @property
    def samples(self) -> bool:
        return self.sampling_alpha is not None

    def encode_sampled(self, text: str, seed: int) -> np.ndarray:
        if self.sampling_alpha is None:
            return self.encode(text)
        import sentencepiece as spm

        # The generator is process-wide: seeding it right before the draw makes the draw a function of
        # the seed alone. 2**32 - 1 is sentencepiece's "unseeded" marker, so it is never passed.
        spm.set_random_generator_seed(seed % 0xFFFFFFFF)
        ids = self._processor().encode(
            text, enable_sampling=True, alpha=float(self.sampling_alpha), nbest_size=self.sampling_nbest
        )
        return np.asarray(ids, dtype=np.int32)

    def _processor(self) -> Any:
        if self._sp is None:
            raise RuntimeError("SentencePieceTokenizer used before fit()")
        return self._sp

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._processor().encode(text), dtype=np.int32)

    def detokenize(self, ids: Iterable[int]) -> str:
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
