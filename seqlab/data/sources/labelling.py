"""The labelling sources: where the examples come from, chosen in YAML by ``class_path``."""

from __future__ import annotations

from typing import Literal

from seqlab.data.errors import DataError
from seqlab.data.examples import LabelledSentence
from seqlab.data.sources.base import ExampleSource
from seqlab.data.splits import with_validation


class LabellingSource(ExampleSource[LabelledSentence]):
    """Labelled sentences: where a LabellingData's examples come from."""


class LabelledFiles(LabellingSource):
    """Local CoNLL-U or CoNLL column files.

    Args:
        train: training file.
        validation: validation file (``None``: hold out ``validation_fraction`` of train).
        test: test file.
        format: ``auto`` (by suffix and content), ``conllu`` or ``conll``.
        tag_field: CoNLL-U only: ``upos`` or ``xpos``.
        token_column: CoNLL only: column of the token (0-based).
        tag_column: CoNLL only: column of the tag (negative counts from the end).
        validation_fraction: share of train held out when there is no validation file.
        seed: seed of that hold-out.
    """

    def __init__(
        self,
        train: str,
        validation: str | None = None,
        test: str | None = None,
        format: Literal["auto", "conllu", "conll"] = "auto",
        tag_field: Literal["upos", "xpos"] = "upos",
        token_column: int = 0,
        tag_column: int = -1,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.files = {"train": train, "validation": validation, "test": test}
        self.format, self.tag_field = format, tag_field
        self.token_column, self.tag_column = token_column, tag_column
        self.validation_fraction, self.seed = validation_fraction, seed

    def read(self, path: str) -> list[LabelledSentence]:
        from seqlab.data.formats.conll import detect_format, read_conll, read_conllu

        fmt = detect_format(path) if self.format == "auto" else self.format
        if fmt == "conllu":
            return read_conllu(path, self.tag_field)
        if fmt == "conll":
            return read_conll(path, self.token_column, self.tag_column)
        raise DataError(f"{path}: looks like plain text, not a labelled CoNLL/CoNLL-U file; set `format`")

    def load(self) -> dict[str, list[LabelledSentence]]:
        splits = {split: self.read(path) for split, path in self.files.items() if path}
        return with_validation(splits, self.validation_fraction, self.seed, key=lambda s: " ".join(s.tokens))


class CmudictStress(LabellingSource):
    """Built-in, offline: lexical stress of each vowel of a pronunciation (CMU Pronouncing Dictionary).

    The input is a pronunciation with its stress digits removed; each vowel's tag is its stress (0, 1
    or 2) and each consonant's tag is ``C``. Split by word: all pronunciations of a word together.

    Args:
        seed: seed of the split.
        fractions: train/validation/test shares of the words.
        max_words: use a seeded subset of this many words (``None``: all ~126k).
    """

    def __init__(
        self,
        seed: int = 0,
        fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
        max_words: int | None = None,
    ) -> None:
        self.seed, self.fractions, self.max_words = seed, tuple(fractions), max_words

    def load(self) -> dict[str, list[LabelledSentence]]:
        from seqlab.data.builtin.stress import stress_sentences

        return stress_sentences(self.seed, self.fractions, self.max_words)
