"""Classification data (many-to-one): sources of labelled texts and the DataModule that encodes them.

Sources are chosen in YAML by ``class_path``: local CSV/TSV/JSON Lines files, a Hugging Face dataset,
or the built-in language identification of words from ``wordfreq``. The label set is built from the
training split alone and saved in checkpoints; a validation or test label outside it is an error that
names the line it came from.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from jsonargparse import lazy_instance

from seqlab.data.cache import default_cache_dir
from seqlab.data.errors import DataError
from seqlab.data.examples import TextExample
from seqlab.data.modules import checked_settings, summary
from seqlab.data.modules.batching import EpochSampler, example_seed, pad
from seqlab.data.modules.labels import LabelSet
from seqlab.data.modules.supervised import EncodedSplit, SupervisedData
from seqlab.data.sources.classification import ClassificationSource, WordLanguages
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.characters import CharTokenizer


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


class ResegmentedTexts(torch.utils.data.Dataset):
    """The training texts, segmented anew for each (epoch, text) by a sampling tokenizer (subword
    regularization, see ``SentencePieceTokenizer(sampling_alpha=...)``). Keys ``(epoch, index)`` come
    from :class:`EpochSampler`; the draw is seeded by ``(seed, epoch, index)``, so it is the same on
    every rank, in worker processes and after a resume. A plain index gives the fixed segmentation.
    Batches are bucketed by the fixed segmentation's lengths."""

    def __init__(self, split: EncodedSplit, tokenizer: Tokenizer, seed: int, max_length: int | None) -> None:
        self.split, self.tokenizer, self.seed, self.max_length = split, tokenizer, seed, max_length
        self.lengths = split.lengths

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[np.ndarray, int | None, str]:
        if not isinstance(key, tuple):
            return self.split[key]
        epoch, index = key
        _, label, text = self.split[index]
        ids = self.tokenizer.encode_sampled(text, example_seed(self.seed, epoch, index))
        return ids[: self.max_length] if self.max_length is not None else ids, label, text


class ClassificationData(SupervisedData):
    """Labelled texts -> fitted tokenizer and label set -> length-bucketed padded batches.

    Tokenizer and label set are fitted in ``__init__`` on the training split, so the model can be
    built with the right sizes (the CLI links ``data.vocab_size`` and ``data.labels`` into it).

    Args:
        source: where the examples come from (default: built-in word language identification).
        tokenizer: characters (default), whitespace words (``WordTokenizer``) or sentencepiece.
        max_length: cut texts to this many tokens (``None``: no limit); the count cut is reported.
        batch_size: see :class:`SupervisedData`.
        eval_batch_size: see :class:`SupervisedData`.
        seed: see :class:`SupervisedData`.
        num_workers: see :class:`SupervisedData`.
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
        checked_settings.whole_number("data.max_length", max_length, optional=True)
        self.max_length = max_length
        self.raw = source.load()
        train = self.raw["train"]
        unlabelled = next((e for e in train if e.label is None), None)
        if unlabelled is not None:
            raise DataError(f"{unlabelled.where}: training examples need a label")
        # A copy: the default is one lazy_instance shared by every ClassificationData, and fit()
        # keeps a vocabulary it already has.
        self.tokenizer = checked_settings.fitted(
            "data.tokenizer",
            checked_settings.training_origin(source),
            lambda: copy.deepcopy(tokenizer).fit([e.text for e in train], cache_dir or default_cache_dir()),
        )
        self.label_set = LabelSet.fit(e.label for e in train if e.label is not None)
        self._cut: dict[str, int] = {}
        for split, examples in self.raw.items():
            self.splits[split] = self._encode(split, examples)
        cut = [f"{n} {split} texts cut to max_length={max_length}" for split, n in self._cut.items() if n]
        parts = [summary.vocabulary(self.tokenizer), summary.labels(self.labels)]
        if self.tokenizer.samples:
            self.splits["train"] = ResegmentedTexts(self.splits["train"], self.tokenizer, seed, max_length)
            self.sampler_class = EpochSampler
            alpha = getattr(self.tokenizer, "sampling_alpha", None)
            parts.append(f"training texts segmented anew every epoch (subword sampling, alpha {alpha})")
        parts.append(summary.lengths(self.splits["train"].lengths, "tokens per training text"))
        counts = {split: len(examples) for split, examples in self.raw.items()}
        summary.print_summary(summary.data_summary("classification", counts, "texts", parts, cut))

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
        self._cut[split] = cut
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
