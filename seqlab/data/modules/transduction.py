"""Transduction data (unaligned many-to-many): sources of (source, references) pairs and the DataModule
that encodes them for an encoder-decoder model.

Target ids reserve three places in front of the tokenizer's own ids: padding (0), begin (1) and end
of sequence (2); source ids are the tokenizer's (padding is packed away by length). Training uses
every reference of an example as its own pair; evaluation keeps all references, so metrics can score
a hypothesis against the closest one (a word with two pronunciations). With a sampling sentencepiece
tokenizer on either side (subword regularization, BPE-dropout), training pairs are segmented anew each
epoch on that side (:class:`ResegmentedPairs`).
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
from seqlab.data.examples import ParallelExample
from seqlab.data.modules import checked_settings, summary
from seqlab.data.modules.batching import EpochSampler, example_seed, pad
from seqlab.data.modules.supervised import EncodedSplit, SupervisedData
from seqlab.data.sources.transduction import CmudictG2P, ParallelSource
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.words import WordTokenizer

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3  # target ids = tokenizer ids + SPECIALS


Item = tuple[np.ndarray, np.ndarray, list[str] | None, str]


def encode_target(tokenizer: Tokenizer, text: str, where: str) -> np.ndarray:
    """BOS + target ids (shifted past the specials) + EOS."""
    ids = tokenizer.encode(text)
    if len(ids) == 0:
        raise DataError(f"{where}: the target {text!r} has no tokens under this tokenizer")
    return np.concatenate([[BOS], ids.astype(np.int64) + SPECIALS, [EOS]])


def detokenize_target(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    """Target ids (without BOS, up to EOS) back to text; specials are dropped."""
    out = []
    for i in ids:
        if i == EOS:
            break
        if i >= SPECIALS:
            out.append(int(i) - SPECIALS)
    return tokenizer.detokenize(out)


def encode_source(tokenizer: Tokenizer, text: str, where: str) -> np.ndarray:
    ids = tokenizer.encode(text)
    if len(ids) == 0:
        raise DataError(f"{where}: the source {text!r} has no tokens under this tokenizer")
    return ids.astype(np.int64)


def collate_pairs(items: Sequence[Item]) -> dict[str, Any]:
    """Items -> ``source`` [B,S], ``source_lengths`` [B], ``target_in`` [B,T] (BOS + y) and
    ``target_out`` [B,T] (y + EOS), both padded with PAD; ``references`` and ``sources`` as lists."""
    return {
        "source": pad([src for src, _, _, _ in items]),
        "source_lengths": torch.tensor([len(src) for src, _, _, _ in items], dtype=torch.long),
        "target_in": pad([tgt[:-1] for _, tgt, _, _ in items], value=PAD),
        "target_out": pad([tgt[1:] for _, tgt, _, _ in items], value=PAD),
        "references": [refs for _, _, refs, _ in items],
        "sources": [text for _, _, _, text in items],
    }


class ResegmentedPairs(torch.utils.data.Dataset):
    """The training pairs, segmented anew for each (epoch, pair) on each side whose tokenizer samples.
    Keys ``(epoch, index)`` come from :class:`EpochSampler`; each side's draw is seeded by ``(seed,
    epoch, index)`` and the side, so it is the same on every rank, in worker processes and after a
    resume. A plain index gives the fixed segmentation. Batches are bucketed by the fixed source
    lengths, and the length limits were applied to the fixed segmentation."""

    def __init__(
        self, split: EncodedSplit, targets: list[str], source: Tokenizer, target: Tokenizer, seed: int
    ) -> None:
        self.split, self.targets, self.source, self.target, self.seed = split, targets, source, target, seed
        self.lengths = split.lengths

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        if not isinstance(key, tuple):
            return self.split[key]
        epoch, index = key
        src, tgt, refs, text = self.split[index]
        if self.source.samples:
            src = self.source.encode_sampled(text, example_seed(self.seed, epoch, index)).astype(np.int64)
        if self.target.samples:
            ids = self.target.encode_sampled(self.targets[index], example_seed(self.seed, epoch, index, 1))
            tgt = np.concatenate([[BOS], ids.astype(np.int64) + SPECIALS, [EOS]])
        return src, tgt, refs, text


class TransductionData(SupervisedData):
    """Parallel examples -> fitted source and target tokenizers -> length-bucketed padded batches.

    Args:
        source: where the examples come from (default: built-in CMUdict grapheme-to-phoneme).
        source_tokenizer: tokenizer of the source side (default: characters).
        target_tokenizer: tokenizer of the target side (default: whitespace words: phonemes).
        joint_tokenizer: fit ``source_tokenizer`` on both sides and use it for both (shared
            sentencepiece model for related languages); ``target_tokenizer`` is then ignored.
        max_source_length: drop training pairs whose source has more tokens (the count is reported).
        max_target_length: drop training pairs whose target has more tokens.
        batch_size: see :class:`SupervisedData`.
        eval_batch_size: see :class:`SupervisedData`.
        seed: see :class:`SupervisedData`.
        num_workers: see :class:`SupervisedData`.
        cache_dir: cache for trained sentencepiece models (default: ``$SEQLAB_CACHE``).
    """

    def __init__(
        self,
        source: ParallelSource = lazy_instance(CmudictG2P),
        source_tokenizer: Tokenizer = lazy_instance(CharTokenizer),
        target_tokenizer: Tokenizer = lazy_instance(WordTokenizer),
        joint_tokenizer: bool = False,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, num_workers)
        checked_settings.whole_number("data.max_source_length", max_source_length, optional=True)
        checked_settings.whole_number("data.max_target_length", max_target_length, optional=True)
        self.raw = source.load()
        train = self.raw["train"]
        cache = cache_dir or default_cache_dir()
        sources, targets = [e.source for e in train], [t for e in train for t in e.targets]
        origin = checked_settings.training_origin(source)
        self.source_tokenizer = checked_settings.fitted(
            "data.source_tokenizer",
            origin,
            lambda: copy.deepcopy(source_tokenizer).fit(
                sources + targets if joint_tokenizer else sources, cache
            ),
        )
        self.target_tokenizer = (
            self.source_tokenizer
            if joint_tokenizer
            else checked_settings.fitted(
                "data.target_tokenizer", origin, lambda: copy.deepcopy(target_tokenizer).fit(targets, cache)
            )
        )
        self.joint_tokenizer = joint_tokenizer
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self._dropped = 0
        self._train_targets: list[str] = []  # the text of each training pair's target, for resampling
        for split, examples in self.raw.items():
            self.splits[split] = self._encode(split, examples)
        sides = [("source", self.source_tokenizer), ("target", self.target_tokenizer)]
        sides = [("both sides", self.source_tokenizer)] if joint_tokenizer else sides
        self._resegmented = [
            f"{side} alpha {getattr(tokenizer, 'sampling_alpha', None)}"
            for side, tokenizer in sides
            if tokenizer.samples
        ]
        if self._resegmented:
            self.splits["train"] = ResegmentedPairs(
                self.splits["train"], self._train_targets, self.source_tokenizer, self.target_tokenizer, seed
            )
            self.sampler_class = EpochSampler
        self._print_summary()

    def _print_summary(self) -> None:
        if self.joint_tokenizer:
            parts = [summary.vocabulary(self.source_tokenizer, "joint vocabulary")]
        else:
            parts = [summary.vocabulary(self.source_tokenizer, "source vocabulary")]
            parts.append(summary.vocabulary(self.target_tokenizer, "target vocabulary"))
        train = self.splits["train"]
        parts.append(summary.lengths(train.lengths, "source tokens per training pair"))
        parts.append(summary.lengths([len(train[i][1]) - 2 for i in range(len(train))], "target tokens"))
        if self._resegmented:
            sides = ", ".join(self._resegmented)
            parts.append(f"training pairs segmented anew every epoch (subword sampling, {sides})")
        limits = f"max_source_length={self.max_source_length}, max_target_length={self.max_target_length}"
        dropped = [f"{self._dropped} training pairs longer than {limits}"] if self._dropped else []
        counts = {split: len(examples) for split, examples in self.raw.items()}
        summary.print_summary(summary.data_summary("transduction", counts, "examples", parts, dropped))

    def _encode(self, split: str, examples: list[ParallelExample]) -> EncodedSplit:
        if not examples:
            raise DataError(f"the {split} split has no examples")
        items: list[Item] = []
        dropped = 0
        for e in examples:
            src = encode_source(self.source_tokenizer, e.source, e.where)
            if split == "train":  # one pair per reference, length-filtered
                for target in e.targets:
                    tgt = encode_target(self.target_tokenizer, target, e.where)
                    too_long = (self.max_source_length is not None and len(src) > self.max_source_length) or (
                        self.max_target_length is not None and len(tgt) - 2 > self.max_target_length
                    )
                    if too_long:
                        dropped += 1
                    else:
                        items.append((src, tgt, None, e.source))
                        self._train_targets.append(target)
            else:  # every example once, scored against all its references
                items.append(
                    (src, encode_target(self.target_tokenizer, e.targets[0], e.where), e.targets, e.source)
                )
        self._dropped += dropped
        if not items:
            raise DataError(f"the {split} split is empty after length filtering; raise the length limits")
        return EncodedSplit(items, [len(src) for src, _, _, _ in items])

    @property
    def source_vocab_size(self) -> int:
        return self.source_tokenizer.vocab_size

    @property
    def target_vocab_size(self) -> int:
        return self.target_tokenizer.vocab_size + SPECIALS

    @property
    def tokenizer(self) -> Tokenizer:
        """The source tokenizer (matched against pretrained embedding files)."""
        return self.source_tokenizer

    def collate(self, items: list[Any]) -> dict[str, Any]:
        return collate_pairs(items)

    def detokenize(self, ids: Sequence[int]) -> str:
        return detokenize_target(self.target_tokenizer, ids)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint, so a checkpoint alone can decode new input."""
        return {
            "tokenizer": self.source_tokenizer.state_dict(),
            "target_tokenizer": self.target_tokenizer.state_dict(),
            "joint": self.joint_tokenizer,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.state_dict() != state_dict:
            raise ValueError(
                "the checkpoint was trained with different tokenizers than this data configuration "
                "builds; use the same data settings as the original run"
            )
