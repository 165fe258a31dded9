"""Batching variable-length examples: length buckets (little padding), rank sharding, mid-epoch resume.

Packed recurrent kernels cost what the longest example in a batch costs, so batches group examples of
similar length; the order of batches is still shuffled every epoch. The DataModules shard batches over
DDP ranks themselves (the CLI turns Lightning's sampler injection off), and the training loader
records how many batches it has served so that a resumed run continues mid-epoch where it stopped.

Evaluation batches carry a ``counted`` flag per example: every rank must run the same number of
evaluation steps, at least one (a rank with none skips Lightning's evaluation loop, and with it the
metric all-reduce the other ranks wait in), so ranks short of batches run filler batches whose
examples are not counted (see :class:`EvalBatchSampler` and :func:`is_filler`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

# Where a resumed training loader picks up is the trainer's count of batches trained this epoch, which
# only Lightning's loop state knows. Reading it is the engine's business
# (``seqlab.engine.lightning_internals``); data sits below the engine and may not import it, so the engine
# hands the reader in here when it is imported (every seqlab task imports it).
_progress_reader: Callable[[Any], int] | None = None


def set_progress_reader(reader: Callable[[Any], int]) -> None:
    """Called by the engine: ``reader(trainer)`` is the number of training batches of the current epoch
    whose update is in the weights."""
    global _progress_reader
    _progress_reader = reader


def batches_trained(trainer: Any) -> int:
    """Training batches of the current epoch whose update is in the weights (see
    :func:`set_progress_reader`): where a resumed loader picks up."""
    if _progress_reader is None:
        raise RuntimeError(
            "no training progress reader: train seqlab DataModules with a seqlab task (which imports "
            "seqlab.engine), or call seqlab.data.modules.batching.set_progress_reader first"
        )
    return _progress_reader(trainer)


class LengthBucketSampler(Sampler[list[int]]):
    """Yields lists of indices: batches of similar length, reshuffled every epoch with a fixed seed.

    Training (``shuffle=True``): indices are shuffled, cut into pools of ``batch_size * pool_batches``,
    each pool sorted by length and cut into batches, and the batches shuffled. Every rank then takes
    every ``world_size``-th batch; batches are repeated so all ranks step the same number of times.
    ``shuffle=False``: sorted by length, each example exactly once over all ranks (a rank may get
    fewer batches or none; evaluation loaders use :class:`EvalBatchSampler`, which evens them out).

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


class EpochSampler(LengthBucketSampler):
    """A length-bucket sampler whose indices carry the epoch, ``(epoch, index)``, so a training dataset
    can vary an example per epoch (SpecAugment, a sampled subword segmentation) from a seed of
    ``(seed, epoch, index)``: the same in any worker process, on any rank, and after a resume."""

    def __iter__(self) -> Iterator[list[Any]]:  # type: ignore[override]
        epoch = self.epoch
        for batch in super().__iter__():
            yield [(epoch, i) for i in batch]


def example_seed(seed: int, epoch: int, index: int, stream: int = 0) -> int:
    """A 32-bit seed for one example in one epoch (what :class:`EpochSampler`'s keys are for);
    ``stream`` tells apart independent draws for one example (a pair's source and target side)."""
    entropy = [seed, epoch, index] + ([stream] if stream else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


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


class EvalBatchSampler(Sampler[list[tuple[int, bool]]]):
    """One rank's evaluation batches, as lists of ``(index, counted)``.

    Examples are sorted by length and cut into batches of ``batch_size``; rank ``r`` takes batches
    ``r, r + world_size, ...``, so each example is counted exactly once over all ranks, in the same
    batches as on one process. Ranks left with fewer batches than the others (or none: fewer batches
    than ranks) get filler batches, one copy of the shortest example with ``counted`` False, so every
    rank runs the same number of evaluation steps; tasks skip them (:func:`is_filler`).

    Args:
        lengths: the length of every example.
        batch_size: examples per batch.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def batches(self) -> list[list[tuple[int, bool]]]:
        n = len(self.lengths)
        if n == 0:
            return []  # every rank has nothing: Lightning skips evaluation on all of them alike
        order = np.argsort(self.lengths, kind="stable").tolist()
        every = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        mine = [[(i, True) for i in batch] for batch in every[self.rank :: self.world_size]]
        steps = -(-len(every) // self.world_size)
        return mine + [[(order[0], False)]] * (steps - len(mine))

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())


class CountedSplit(Dataset):
    """A split read with :class:`EvalBatchSampler`'s ``(index, counted)`` keys: items come back as
    ``(item, counted)`` for :class:`CollateCounted`."""

    def __init__(self, split: Dataset) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, bool]) -> tuple[Any, bool]:
        index, counted = key
        return self.split[index], counted


class CollateCounted:
    """A collate function over ``(item, counted)`` pairs: the wrapped collate's batch dictionary plus
    ``counted``, a bool tensor [B] (a class rather than a closure, so worker processes can pickle it)."""

    def __init__(self, collate: Callable[[list[Any]], dict[str, Any]]) -> None:
        self.collate = collate

    def __call__(self, pairs: list[tuple[Any, bool]]) -> dict[str, Any]:
        batch = self.collate([item for item, _ in pairs])
        batch["counted"] = torch.tensor([counted for _, counted in pairs], dtype=torch.bool)
        return batch


def eval_loader(
    split: Dataset, sampler: EvalBatchSampler, collate: Callable[[list[Any]], dict[str, Any]], **kwargs: Any
) -> DataLoader:
    """A validation/test loader whose batches carry ``counted`` (see :class:`EvalBatchSampler`)."""
    return DataLoader(
        CountedSplit(split), batch_sampler=sampler, collate_fn=CollateCounted(collate), **kwargs
    )


def is_filler(batch: Any) -> bool:
    """Whether ``batch`` is a filler batch of :class:`EvalBatchSampler` (no example in it counts), which
    evaluation must skip. Batches without ``counted`` count. Samplers never mix counted and uncounted
    examples in one batch; such a batch is refused rather than half counted."""
    counted = batch.get("counted") if isinstance(batch, dict) else None
    if counted is None or bool(counted.all()):
        return False
    if not bool(counted.any()):
        return True
    raise ValueError("an evaluation batch mixes counted and filler examples; expected whole filler batches")


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
