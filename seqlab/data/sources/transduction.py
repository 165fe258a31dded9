"""The transduction sources: where the examples come from, chosen in YAML by ``class_path``."""

from __future__ import annotations

from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.sources.base import ExampleSource
from seqlab.data.splits import with_validation


class ParallelSource(ExampleSource[ParallelExample]):
    """(source, references) pairs: where a TransductionData's examples come from."""


class ParallelFiles(ParallelSource):
    """Local parallel data. Each split is either two line-aligned files ``[source_file, target_file]``
    or one TSV/JSON Lines table with source and target columns.

    Args:
        train: training data.
        validation: validation data (``None``: hold out ``validation_fraction`` of train, by source).
        test: test data.
        source_column: column/key of the source text in a table.
        target_column: column/key of the target text in a table.
        validation_fraction: share of train held out when there is no validation data.
        seed: seed of that hold-out.
    """

    def __init__(
        self,
        train: str | list[str],
        validation: str | list[str] | None = None,
        test: str | list[str] | None = None,
        source_column: str = "source",
        target_column: str = "target",
        validation_fraction: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.files = {"train": train, "validation": validation, "test": test}
        self.source_column, self.target_column = source_column, target_column
        self.validation_fraction, self.seed = validation_fraction, seed

    def _read(self, split: str, spec: str | list[str]) -> list[ParallelExample]:
        from seqlab.data.formats.parallel_files import read_parallel_files, read_parallel_table

        if isinstance(spec, str):
            return read_parallel_table(spec, self.source_column, self.target_column)
        if len(spec) != 2:
            raise DataError(f"{split}: expected [source_file, target_file] or one table file, got {spec}")
        return read_parallel_files(spec[0], spec[1])

    def load(self) -> dict[str, list[ParallelExample]]:
        splits = {split: self._read(split, spec) for split, spec in self.files.items() if spec}
        return with_validation(splits, self.validation_fraction, self.seed, key=lambda e: e.source)


class HubParallel(ParallelSource):
    """A Hugging Face parallel dataset by name (online) or a local dataset directory (offline): source
    and target columns, or a WMT-style ``translation`` column with ``source_lang``/``target_lang``.

    Args:
        name: hub name (``wmt16``, ``iwslt2017``, ...) or a local path.
        config_name: dataset configuration (``de-en``).
        source_column: column of the source text.
        target_column: column of the target text (a list of strings gives several references).
        source_lang: with a ``translation`` column: the source language code.
        target_lang: with a ``translation`` column: the target language code.
        train_split: split to train on.
        validation_split: split to validate on (``None``: hold out ``validation_fraction`` of train).
        test_split: split to test on (``None``: none).
        validation_fraction: see ``validation_split``.
        seed: seed of the hold-out.
    """

    def __init__(
        self,
        name: str,
        config_name: str | None = None,
        source_column: str = "source",
        target_column: str = "target",
        source_lang: str | None = None,
        target_lang: str | None = None,
        train_split: str = "train",
        validation_split: str | None = "validation",
        test_split: str | None = None,
        validation_fraction: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.name, self.config_name = name, config_name
        self.columns = (source_column, target_column, source_lang, target_lang)
        self.split_names = {"train": train_split, "validation": validation_split, "test": test_split}
        self.validation_fraction, self.seed = validation_fraction, seed

    def load(self) -> dict[str, list[ParallelExample]]:
        from seqlab.data.formats.parallel_files import load_hub_parallel

        source_column, target_column, source_lang, target_lang = self.columns
        splits = {
            split: load_hub_parallel(
                self.name, hub_split, self.config_name, source_column, target_column, source_lang, target_lang
            )
            for split, hub_split in self.split_names.items()
            if hub_split
        }
        return with_validation(splits, self.validation_fraction, self.seed, key=lambda e: e.source)


class CmudictG2P(ParallelSource):
    """Built-in, offline: grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary. The source
    is a word's letters, the references are all its pronunciations (phonemes separated by spaces).

    Args:
        stress: keep the vowels' stress digits (``AH0``) or strip them (``AH``).
        seed: seed of the split by word.
        fractions: train/validation/test shares of the words.
        max_words: a seeded subset of this many words (``None``: all).
    """

    def __init__(
        self,
        stress: bool = False,
        seed: int = 0,
        fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
        max_words: int | None = None,
    ) -> None:
        self.stress, self.seed, self.fractions, self.max_words = stress, seed, tuple(fractions), max_words

    def load(self) -> dict[str, list[ParallelExample]]:
        from seqlab.data.builtin.g2p import g2p_examples

        return g2p_examples(
            seed=self.seed, fractions=self.fractions, stress=self.stress, max_words=self.max_words
        )
