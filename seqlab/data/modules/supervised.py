"""What the supervised DataModules share: splits of encoded examples, and length-bucketed loaders
that shard over DDP ranks (evaluation: each example counted once, every rank the same number of
batches) and resume mid-epoch."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from seqlab.data.errors import DataError
from seqlab.data.modules import checked_settings
from seqlab.data.modules.batching import (
    EvalBatchSampler,
    LengthBucketSampler,
    ResumableLoader,
    batches_trained,
    eval_loader,
    loader_kwargs,
)


class EncodedSplit(torch.utils.data.Dataset):
    """One split: encoded items (anything the collate function understands) and their lengths."""

    def __init__(self, items: list[Any], lengths: list[int]) -> None:
        self.items, self.lengths = items, lengths

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


class SupervisedData(L.LightningDataModule):
    """Base for DataModules of supervised examples, each with an input and a target (classification,
    labelling, transduction, speech recognition), unlike the language model's continuous streams.

    Subclasses fill ``self.splits`` (a dataset per split name, with a ``lengths`` list) in ``__init__``,
    or in ``setup`` when a split is costly to build (then :meth:`_build_splits` calls it), and define
    ``collate``.

    Args:
        batch_size: examples per training batch (per process).
        eval_batch_size: examples per validation/test batch (default: ``batch_size``).
        seed: seed of the per-epoch shuffling.
        num_workers: DataLoader worker processes.
    """

    sampler_class: type[LengthBucketSampler] = LengthBucketSampler

    def __init__(self, batch_size: int, eval_batch_size: int | None, seed: int, num_workers: int) -> None:
        super().__init__()
        checked_settings.batching(batch_size, eval_batch_size, num_workers)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.seed, self.num_workers = seed, num_workers
        self.splits: dict[str, Any] = {}

    @abstractmethod
    def collate(self, items: list[Any]) -> dict[str, Any]:
        """Pad a list of encoded items into a batch dictionary."""

    def _build_splits(self) -> None:
        """Build the splits that are built late (in ``setup``); nothing to do where ``__init__`` did."""

    def _rank(self, split: str) -> tuple[int, int]:
        self._build_splits()
        if split not in self.splits:
            raise DataError(f"this data configuration has no {split} split; configure one in the source")
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> ResumableLoader:
        def batches_done() -> int:
            return batches_trained(self.trainer)

        rank, world = self._rank("train")
        lengths = self.splits["train"].lengths
        sampler = self.sampler_class(lengths, self.batch_size, True, self.seed, rank, world)
        return ResumableLoader(
            self.splits["train"], sampler, self.collate, batches_done, **loader_kwargs(self.num_workers)
        )

    def _eval_loader(self, split: str) -> DataLoader:
        """Each example counted once over all ranks; every rank runs the same number of batches (see
        :class:`EvalBatchSampler`)."""
        rank, world = self._rank(split)
        sampler = EvalBatchSampler(self.splits[split].lengths, self.eval_batch_size, rank, world)
        return eval_loader(self.splits[split], sampler, self.collate, **loader_kwargs(self.num_workers))

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
