"""The classification sources: where the examples come from, chosen in YAML by ``class_path``."""

from __future__ import annotations

from typing import Literal

from lightning.pytorch.utilities import rank_zero_info

from seqlab.data.errors import DataError
from seqlab.data.examples import TextExample
from seqlab.data.sources.base import ExampleSource
from seqlab.data.splits import with_validation

FileFormat = Literal["auto", "csv", "tsv", "jsonl"]


class ClassificationSource(ExampleSource[TextExample]):
    """Labelled texts: where a ClassificationData's examples come from."""


class ClassificationFiles(ClassificationSource):
    """Local files: CSV or TSV with a header row (a GLUE-style ``sentence<TAB>label`` file works as is),
    or JSON Lines.

    Args:
        train: training file.
        validation: validation file (``None``: hold out ``validation_fraction`` of train, by text).
        test: test file.
        text_column: column/key of the text (``None``: ``sentence`` or ``text``, whichever exists).
        label_column: column/key of the label (strings or integers).
        format: ``auto`` (by file suffix), ``csv``, ``tsv`` or ``jsonl``.
        validation_fraction: share of train held out when there is no validation file.
        seed: seed of that hold-out.
        drop_labels: rows with these labels are left out of every split (CLINC150's ``oos`` for its
            in-scope setting, where test accuracy is the published in-scope accuracy).
    """

    def __init__(
        self,
        train: str,
        validation: str | None = None,
        test: str | None = None,
        text_column: str | None = None,
        label_column: str = "label",
        format: FileFormat = "auto",
        validation_fraction: float = 0.1,
        seed: int = 0,
        drop_labels: list[str] | None = None,
    ) -> None:
        self.files = {"train": train, "validation": validation, "test": test}
        self.text_column, self.label_column, self.format = text_column, label_column, format
        self.validation_fraction, self.seed = validation_fraction, seed
        self.drop_labels = list(drop_labels or [])

    def load(self) -> dict[str, list[TextExample]]:
        from seqlab.data.formats.classification_files import read_classification_file

        splits = {
            split: read_classification_file(path, self.text_column, self.label_column, self.format)
            for split, path in self.files.items()
            if path
        }
        if self.drop_labels:
            kept = {
                split: [e for e in rows if e.label not in self.drop_labels] for split, rows in splits.items()
            }
            for split, rows in kept.items():
                if not rows:
                    raise DataError(
                        f"{self.files[split]}: no examples left after dropping labels {self.drop_labels} "
                        "(data.source.drop_labels); expected other labels too"
                    )
            dropped = ", ".join(f"{split} {len(splits[split]) - len(rows)}" for split, rows in kept.items())
            rank_zero_info(f"classification: rows labelled {', '.join(self.drop_labels)} left out: {dropped}")
            splits = kept
        return with_validation(splits, self.validation_fraction, self.seed, key=lambda e: e.text)


class HubClassification(ClassificationSource):
    """A Hugging Face dataset by name (online), or a local dataset directory (offline).

    Args:
        name: hub name (``glue``, ``imdb``, ...) or a local path.
        config_name: dataset configuration (``sst2`` for ``glue``).
        text_column: text column (``None``: ``sentence`` or ``text``).
        label_column: label column; ClassLabel features give their names.
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
        text_column: str | None = None,
        label_column: str = "label",
        train_split: str = "train",
        validation_split: str | None = "validation",
        test_split: str | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.name, self.config_name = name, config_name
        self.text_column, self.label_column = text_column, label_column
        self.split_names = {"train": train_split, "validation": validation_split, "test": test_split}
        self.validation_fraction, self.seed = validation_fraction, seed

    def load(self) -> dict[str, list[TextExample]]:
        from seqlab.data.formats.classification_files import load_hub_classification

        splits = {
            split: load_hub_classification(
                self.name, hub_split, self.config_name, self.text_column, self.label_column
            )
            for split, hub_split in self.split_names.items()
            if hub_split
        }
        return with_validation(splits, self.validation_fraction, self.seed, key=lambda e: e.text)


class WordLanguages(ClassificationSource):
    """Built-in, offline: which language is this word? Words from ``wordfreq``'s frequency lists.

    Args:
        languages: language codes (``None``: twelve Latin-script languages, so spelling, not script,
            tells them apart).
        words_per_language: the most frequent words taken from each list.
        ambiguous: words in several lists: ``drop`` them, or keep each once labelled with the language
            where it is most frequent (``most_frequent``).
        min_length: shortest word kept.
        seed: seed of the split by word.
        fractions: train/validation/test shares.
    """

    def __init__(
        self,
        languages: list[str] | None = None,
        words_per_language: int = 5000,
        ambiguous: Literal["drop", "most_frequent"] = "drop",
        min_length: int = 2,
        seed: int = 0,
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    ) -> None:
        self.languages, self.words_per_language, self.ambiguous = languages, words_per_language, ambiguous
        self.min_length, self.seed, self.fractions = min_length, seed, tuple(fractions)

    def load(self) -> dict[str, list[TextExample]]:
        from seqlab.data.builtin.langid import DEFAULT_LANGUAGES, word_language_examples

        data = word_language_examples(
            self.languages or DEFAULT_LANGUAGES,
            self.words_per_language,
            self.ambiguous,
            self.min_length,
            self.seed,
            self.fractions,
        )
        rank_zero_info(data.summary())
        return data.splits
