"""Rebuilding a fitted tokenizer from the ``state_dict`` a checkpoint holds."""

from __future__ import annotations

from typing import Any

from seqlab.data.errors import DataError
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer
from seqlab.data.tokenizers.words import WordTokenizer


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
