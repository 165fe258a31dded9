"""Length-bucketed batching: coverage, sortedness, per-epoch shuffling, rank sharding, mid-epoch resume."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from seqlab.data.modules.batching import LengthBucketSampler, ResumableLoader, pad

N = 503  # not a multiple of any batch size used, so the last batch is short


def lengths(n: int = N, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(1, 200, size=n).tolist()


def flat(batches: list[list[int]]) -> list[int]:
    return [i for batch in batches for i in batch]


def test_training_epoch_yields_every_index_once_in_batches_of_batch_size() -> None:
    sampler = LengthBucketSampler(lengths(), batch_size=8, shuffle=True, seed=1, pool_batches=5)
    batches = list(sampler)
    assert sorted(flat(batches)) == list(range(N))
    assert len(batches) == len(sampler) == -(-N // 8)
    sizes = Counter(len(b) for b in batches)
    assert sizes == Counter({8: N // 8, N % 8: 1})
    assert all(isinstance(i, int) for i in batches[0])


def test_batches_group_similar_lengths() -> None:
    """The mean length spread (max - min) inside a batch is far below that of random batches."""
    lens = np.asarray(lengths())
    sampler = LengthBucketSampler(lens, batch_size=8, shuffle=True, seed=0, pool_batches=10)
    spread = np.mean([np.ptp(lens[b]) for b in sampler])
    rng = np.random.default_rng(5)
    random_spread = np.mean([np.ptp(lens[b]) for b in np.array_split(rng.permutation(N), N // 8)])
    assert spread < random_spread / 3


def test_order_changes_with_epoch_and_repeats_for_the_same_epoch_and_seed() -> None:
    def epoch_batches(epoch: int, seed: int = 3) -> list[list[int]]:
        sampler = LengthBucketSampler(lengths(), batch_size=8, shuffle=True, seed=seed, pool_batches=4)
        sampler.set_epoch(epoch)
        return list(sampler)

    first = epoch_batches(0)
    assert epoch_batches(0) == first
    assert epoch_batches(1) != first
    assert epoch_batches(0, seed=4) != first
    assert sorted(flat(epoch_batches(1))) == list(range(N))


def test_evaluation_order_is_sorted_by_length_and_fixed() -> None:
    lens = lengths()
    sampler = LengthBucketSampler(lens, batch_size=16, shuffle=False)
    order = flat(list(sampler))
    assert sorted(order) == list(range(N))
    assert [lens[i] for i in order] == sorted(lens)
    sampler.set_epoch(3)
    assert flat(list(sampler)) == order


@pytest.mark.parametrize("n", [N, 40, 8, 3])
def test_training_ranks_step_equally_and_cover_every_index(n: int) -> None:
    """With 2 ranks both get the same number of batches (some repeated when the count is odd) and
    together they see every index; the shards differ."""
    lens = lengths(n)
    ranks = [
        list(LengthBucketSampler(lens, batch_size=8, shuffle=True, seed=2, rank=r, world_size=2))
        for r in (0, 1)
    ]
    total = -(-n // 8)
    assert len(ranks[0]) == len(ranks[1]) == -(-total // 2)
    assert len(LengthBucketSampler(lens, batch_size=8, shuffle=True, rank=1, world_size=2)) == len(ranks[1])
    assert set(flat(ranks[0])) | set(flat(ranks[1])) == set(range(n))
    if total > 1:
        assert set(flat(ranks[0])) != set(flat(ranks[1]))


@pytest.mark.parametrize("world_size", [2, 3])
def test_evaluation_ranks_cover_each_index_exactly_once(world_size: int) -> None:
    lens = lengths()
    shards = [
        flat(list(LengthBucketSampler(lens, batch_size=10, shuffle=False, rank=r, world_size=world_size)))
        for r in range(world_size)
    ]
    assert sorted(i for shard in shards for i in shard) == list(range(N))
    assert all(shards)


def test_bad_batch_size_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketSampler([1, 2], batch_size=0, shuffle=True)


class Items(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


def test_resumable_loader_skips_the_batches_already_trained_then_runs_full_epochs() -> None:
    lens = lengths(100)
    done = {"count": 0}
    sampler = LengthBucketSampler(lens, batch_size=7, shuffle=True, seed=9)
    loader = ResumableLoader(Items(100), sampler, lambda items: list(items), lambda: done["count"])
    sampler.set_epoch(2)
    epoch2 = [batch for batch in loader]
    assert len(epoch2) == len(sampler) == 15

    done["count"] = 6
    assert loader.state_dict() == {"epoch": 2, "batches_done": 6}

    fresh = LengthBucketSampler(lens, batch_size=7, shuffle=True, seed=9)
    resumed = ResumableLoader(Items(100), fresh, lambda items: list(items), lambda: 0)
    resumed.load_state_dict({"epoch": 2, "batches_done": 6})
    assert fresh.epoch == 2
    assert list(resumed) == epoch2[6:]
    assert list(resumed) == epoch2  # the next pass over the same epoch is complete again
    fresh.set_epoch(3)
    third = list(resumed)
    assert len(third) == 15 and third != epoch2


def test_resume_at_an_epoch_boundary_skips_nothing() -> None:
    """batches_done equal to the epoch's length (saved at its end) resumes with a full pass."""
    sampler = LengthBucketSampler(lengths(50), batch_size=5, shuffle=True)
    loader = ResumableLoader(Items(50), sampler, list, lambda: 0)
    loader.load_state_dict({"epoch": 1, "batches_done": 10})
    assert len(list(loader)) == 10


def test_pad_right_pads_into_a_long_tensor() -> None:
    out = pad([np.array([3, 1], dtype=np.int32), [5], np.array([], dtype=np.int32), [1, 2, 4]], value=-1)
    assert out.dtype == torch.long
    assert out.tolist() == [[3, 1, -1], [5, -1, -1], [-1, -1, -1], [1, 2, 4]]
    assert pad([[7, 8]]).tolist() == [[7, 8]]
    assert pad([]).shape == (0, 0)
