"""The output symbols of a CTC model: characters, phonemes or whole words, with id 0 reserved for the
CTC blank."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal, get_args

from seqlab.data.errors import DataError

Targets = Literal["characters", "phonemes", "words"]
KINDS: tuple[str, ...] = get_args(Targets)


def normalize_text(text: str) -> str:
    """The form a character target is scored in: lowercase, runs of whitespace as one space."""
    return " ".join(text.lower().split())


def scoring_text(target: str, kind: Targets) -> str:
    """The reference that CER/WER compare a transcript with: the whole target (the normalised text, or
    the phoneme tokens one space apart), symbols the alphabet lacks included, so that a model which
    cannot emit them is charged for them."""
    return " ".join(target.split()) if kind == "phonemes" else normalize_text(target)


class Alphabet:
    """Symbols fitted on the training targets; ``encode`` maps a target to ids 1..len(symbols).

    Characters: the symbols are single characters of the normalised text (space included, the word
    boundary). Phonemes: whitespace-separated tokens (``h ə l oʊ | w ɜː l d``; ``|`` marks word
    boundaries). Words: the words of the normalised text, one symbol each (acoustic-to-word CTC, for a
    closed vocabulary such as spoken digits or commands: no misspellings, but no word unseen in
    training either). A symbol absent from training (only possible in validation/test or at inference) is
    dropped from the training target ids and counted in ``unknown``; the error rates still score
    against the whole reference (:func:`scoring_text`), where a model that cannot emit the symbol is
    charged for it, which is the honest score.

    Args:
        symbols: the symbols in id order (id = position + 1).
        kind: ``characters``, ``phonemes`` or ``words``.
    """

    blank = 0

    def __init__(self, symbols: Sequence[str], kind: Targets = "characters") -> None:
        if kind not in KINDS:
            raise DataError(f"targets must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
        self.symbols, self.kind = list(symbols), kind
        self.ids = {s: i + 1 for i, s in enumerate(self.symbols)}
        self.unknown: Counter[str] = Counter()

    @classmethod
    def fit(cls, targets: Iterable[str], kind: Targets = "characters") -> Alphabet:
        """All symbols of the training targets, sorted (so the same data gives the same ids)."""
        alphabet = cls([], kind)
        symbols = {s for t in targets for s in alphabet.split(t)}
        if not symbols:
            raise DataError("the training targets are all empty; cannot fit an alphabet")
        return cls(sorted(symbols), kind)

    def split(self, target: str) -> list[str]:
        """A target string as symbols (characters or words of the normalised text, or phoneme tokens)."""
        if self.kind == "characters":
            return list(normalize_text(target))
        return normalize_text(target).split() if self.kind == "words" else target.split()

    def encode(self, target: str) -> list[int]:
        """Symbol ids (never the blank); unknown symbols are dropped and counted in ``unknown``."""
        out = []
        for symbol in self.split(target):
            if symbol in self.ids:
                out.append(self.ids[symbol])
            else:
                self.unknown[symbol] += 1
        return out

    def detokenize(self, ids: Iterable[int]) -> str:
        """Ids back to a target string; blanks and out-of-range ids are skipped."""
        symbols = [self.symbols[i - 1] for i in ids if 0 < i <= len(self.symbols)]
        return "".join(symbols) if self.kind == "characters" else " ".join(symbols)  # words, phonemes

    @property
    def word_separator(self) -> int | None:
        """The id between words (a space; ``|`` in phoneme targets), if the targets have one (word
        targets have none: every symbol is a word)."""
        if self.kind == "words":
            return None
        return self.ids.get(" " if self.kind == "characters" else "|")

    @property
    def size(self) -> int:
        """Number of model outputs: the symbols plus the blank."""
        return len(self.symbols) + 1

    def state_dict(self) -> dict[str, Any]:
        return {"type": "speech_alphabet", "kind": self.kind, "symbols": list(self.symbols)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Alphabet:
        if state.get("type") != "speech_alphabet":
            raise DataError(f"not a speech alphabet state (type {state.get('type')!r})")
        return cls(state["symbols"], state["kind"])
