"""Classification data (many-to-one): sources of labelled texts and the DataModule that encodes them.

Sources are chosen in YAML by ``class_path``: local CSV/TSV/JSON Lines files, a Hugging Face dataset,
or the built-in language identification of words from ``wordfreq``. The label set is built from the
training split alone and saved in checkpoints; a validation or test label outside it is an error that
names the line it came from.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from jsonargparse import lazy_instance
from lightning.pytorch.utilities import rank_zero_info

from seqlab.data.batching import pad
from seqlab.data.example_datamodule import EncodedSplit, ExampleData
from seqlab.data.examples import TextExample
from seqlab.data.labels import LabelSet
from seqlab.data.lm_datamodule import default_cache_dir
from seqlab.data.splits import with_validation
from seqlab.data.text_files import DataError
from seqlab.data.tokenizers import CharTokenizer, Tokenizer

FileFormat = Literal["auto", "csv", "tsv", "jsonl"]


class ClassificationSource(ABC):
    """Labelled texts split into ``train`` and ``validation`` (and ``test`` where available)."""

    @abstractmethod
    def load(self) -> dict[str, list[TextExample]]: ...


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
    ) -> None:
        self.files = {"train": train, "validation": validation, "test": test}
        self.text_column, self.label_column, self.format = text_column, label_column, format
        self.validation_fraction, self.seed = validation_fraction, seed

    def load(self) -> dict[str, list[TextExample]]:
        from seqlab.data.labelled_files import read_classification_file

        splits = {
            split: read_classification_file(path, self.text_column, self.label_column, self.format)
            for split, path in self.files.items()
            if path
        }
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
        from seqlab.data.labelled_files import load_hub_classification

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
        from seqlab.data.builtin_langid import DEFAULT_LANGUAGES, word_language_examples

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


def encode_text(tokenizer: Tokenizer, text: str, where: str) -> np.ndarray:
    """Token ids of ``text``; a text with no tokens is an error naming ``where``."""
    ids = tokenizer.encode(text)
    if len(ids) == 0:
        raise DataError(f"{where}: the text {text!r} has no tokens under this tokenizer")
    return ids


def collate_texts(items: Sequence[tuple[np.ndarray, int | None, str]]) -> dict[str, Any]:
    """(ids, label id or None, text) items -> ``ids`` [B,T], ``lengths`` [B], ``labels`` [B], ``texts``."""
    labels = [label for _, label, _ in items]
    return {
        "ids": pad([ids for ids, _, _ in items]),
        "lengths": torch.tensor([len(ids) for ids, _, _ in items], dtype=torch.long),
        "labels": None if None in labels else torch.tensor(labels, dtype=torch.long),
        "texts": [text for _, _, text in items],
    }


class ClassificationData(ExampleData):
    """Labelled texts -> fitted tokenizer and label set -> length-bucketed padded batches.

    Tokenizer and label set are fitted in ``__init__`` on the training split, so the model can be
    built with the right sizes (the CLI links ``data.vocab_size`` and ``data.labels`` into it).

    Args:
        source: where the examples come from (default: built-in word language identification).
        tokenizer: characters (default), whitespace words (``WordTokenizer``) or sentencepiece.
        max_length: cut texts to this many tokens (``None``: no limit); the count cut is reported.
        batch_size: see :class:`ExampleData`.
        eval_batch_size: see :class:`ExampleData`.
        seed: see :class:`ExampleData`.
        num_workers: see :class:`ExampleData`.
        cache_dir: cache for trained sentencepiece models (default: ``$SEQLAB_CACHE``).
    """

    def __init__(
        self,
        source: ClassificationSource = lazy_instance(WordLanguages),
        tokenizer: Tokenizer = lazy_instance(CharTokenizer),
        max_length: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, num_workers)
        self.max_length = max_length
        self.raw = source.load()
        train = self.raw["train"]
        unlabelled = next((e for e in train if e.label is None), None)
        if unlabelled is not None:
            raise DataError(f"{unlabelled.where}: training examples need a label")
        # A copy: the default is one lazy_instance shared by every ClassificationData, and fit()
        # keeps a vocabulary it already has.
        self.tokenizer = copy.deepcopy(tokenizer).fit(
            [e.text for e in train], cache_dir or default_cache_dir()
        )
        self.label_set = LabelSet.fit(e.label for e in train if e.label is not None)
        for split, examples in self.raw.items():
            self.splits[split] = self._encode(split, examples)

    def _encode(self, split: str, examples: list[TextExample]) -> EncodedSplit:
        if not examples:
            raise DataError(f"the {split} split has no examples")
        items, cut = [], 0
        for e in examples:
            ids = encode_text(self.tokenizer, e.text, e.where)
            if self.max_length is not None and len(ids) > self.max_length:
                ids, cut = ids[: self.max_length], cut + 1
            label = None if e.label is None else self.label_set.encode(e.label, e.where)
            items.append((ids, label, e.text))
        if cut:
            rank_zero_info(
                f"{split}: {cut} of {len(examples)} texts cut to max_length={self.max_length} tokens"
            )
        return EncodedSplit(items, [len(ids) for ids, _, _ in items])

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def labels(self) -> list[str]:
        return list(self.label_set.labels)

    def label_counts(self) -> list[int]:
        """Training examples per label, in label-id order (for balanced class weights)."""
        return self.label_set.counts(e.label for e in self.raw["train"] if e.label is not None)

    def collate(self, items: list[Any]) -> dict[str, Any]:
        return collate_texts(items)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint, so a checkpoint alone can predict."""
        return {
            "tokenizer": self.tokenizer.state_dict(),
            "labels": self.labels,
            "max_length": self.max_length,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.tokenizer.state_dict() != state_dict.get("tokenizer") or self.labels != state_dict.get(
            "labels"
        ):
            raise ValueError(
                "the checkpoint was trained with a different tokenizer or label set than this data "
                "configuration builds; use the same data settings as the original run"
            )
