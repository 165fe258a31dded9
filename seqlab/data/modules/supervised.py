"""What the encoder tasks' DataModules share: splits of encoded examples, and length-bucketed loaders
that shard over DDP ranks (evaluation: each example counted once, every rank the same number of
batches) and resume mid-epoch."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from seqlab.data.errors import DataError
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
    """Base for DataModules of independent examples (classification, labelling).

    Subclasses fill ``self.splits`` (``EncodedSplit`` per split name) in ``__init__`` and define
    ``collate``.

    Args:
        batch_size: examples per training batch (per process).
        eval_batch_size: examples per validation/test batch (default: ``batch_size``).
        seed: seed of the per-epoch shuffling.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, batch_size: int, eval_batch_size: int | None, seed: int, num_workers: int) -> None:
        super().__init__()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.seed, self.num_workers = seed, num_workers
        self.splits: dict[str, EncodedSplit] = {}

    @abstractmethod
    def collate(self, items: list[Any]) -> dict[str, Any]:
        """Pad a list of encoded items into a batch dictionary."""

    def _rank(self, split: str) -> tuple[int, int]:
        if split not in self.splits:
            raise DataError(f"this data configuration has no {split} split; configure one in the source")
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _train_sampler(self) -> LengthBucketSampler:
        rank, world = self._rank("train")
        return LengthBucketSampler(
            self.splits["train"].lengths,
            self.batch_size,
            shuffle=True,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )

    def _loader_kwargs(self) -> dict[str, Any]:
        return loader_kwargs(self.num_workers)

    def train_dataloader(self) -> ResumableLoader:
        def batches_done() -> int:
            return batches_trained(self.trainer)

        return ResumableLoader(
            self.splits["train"], self._train_sampler(), self.collate, batches_done, **self._loader_kwargs()
        )

    def _eval_loader(self, split: str) -> DataLoader:
        rank, world = self._rank(split)
        sampler = EvalBatchSampler(self.splits[split].lengths, self.eval_batch_size, rank, world)
        return eval_loader(self.splits[split], sampler, self.collate, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
