"""Batching variable-length examples: length buckets (little padding), rank sharding, mid-epoch resume.

Packed recurrent kernels cost what the longest example in a batch costs, so batches group examples of
similar length; the order of batches is still shuffled every epoch. The DataModules shard batches over
DDP ranks themselves (the CLI turns Lightning's sampler injection off), and the training loader
records how many batches it has served so that a resumed run continues mid-epoch where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class LengthBucketSampler(Sampler[list[int]]):
    """Yields lists of indices: batches of similar length, reshuffled every epoch with a fixed seed.

    Training (``shuffle=True``): indices are shuffled, cut into pools of ``batch_size * pool_batches``,
    each pool sorted by length and cut into batches, and the batches shuffled. Every rank then takes
    every ``world_size``-th batch; batches are repeated so all ranks step the same number of times.
    Evaluation (``shuffle=False``): sorted by length, each example exactly once over all ranks.

    Args:
        lengths: the length of every example.
        batch_size: examples per batch.
        shuffle: shuffle (training) or not (evaluation).
        seed: base seed; epoch ``e`` uses ``(seed, e)``.
        rank: this process's rank.
        world_size: number of processes.
        pool_batches: how many batches' worth of examples are sorted together.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pool_batches: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.rank, self.world_size, self.pool_batches = rank, world_size, pool_batches
        self.epoch = 0
        self.skip = 0  # batches of this epoch already trained (set when resuming mid-epoch)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def _all_batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        pool = self.batch_size * self.pool_batches
        batches = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _my_batches(self) -> list[np.ndarray]:
        batches = self._all_batches()
        if self.shuffle and self.world_size > 1 and batches:
            per_rank = -(-len(batches) // self.world_size)
            batches = (batches * self.world_size)[: per_rank * self.world_size]
        return batches[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip = self.skip, 0
        for batch in self._my_batches()[skip:]:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._my_batches())


class ResumableLoader(DataLoader):
    """A DataLoader over a :class:`LengthBucketSampler` whose state (epoch, batches served) goes into
    checkpoints; after ``load_state_dict`` the next pass skips the batches already trained.

    ``batches_done`` reports batches trained so far this epoch (the trainer's progress counter: the
    loader itself runs ahead because of prefetching).
    """

    def __init__(
        self,
        dataset: Dataset,
        sampler: LengthBucketSampler,
        collate_fn: Callable[[list[Any]], Any],
        batches_done: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        super().__init__(dataset, batch_sampler=sampler, collate_fn=collate_fn, **kwargs)
        self.bucket_sampler, self.batches_done = sampler, batches_done

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.bucket_sampler.epoch, "batches_done": int(self.batches_done())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.bucket_sampler.epoch = int(state.get("epoch", 0))
        self.bucket_sampler.skip = int(state.get("batches_done", 0)) % max(len(self.bucket_sampler), 1)


def pad(sequences: Sequence[np.ndarray | Sequence[int]], value: int = 0) -> torch.Tensor:
    """Right-pad 1-D integer sequences into a [B, T] long tensor."""
    longest = max((len(s) for s in sequences), default=0)
    out = torch.full((len(sequences), longest), value, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.as_tensor(np.asarray(seq, dtype=np.int64))
    return out


def loader_kwargs(num_workers: int) -> dict[str, Any]:
    """DataLoader settings every seqlab DataModule shares: worker processes, pinned memory on GPU
    machines, and a generator of the loader's own (not the global one, so that resuming draws the
    same random numbers: see engine.callbacks.RandomState)."""
    return {
        "num_workers": num_workers,
        "pin_memory": torch.cuda.is_available(),
        "persistent_workers": num_workers > 0,
        "generator": torch.Generator(),
    }
