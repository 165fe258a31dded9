"""The two CTC prefix beam searches ``ctc_beam_decode`` chooses between, against each other: the
batched one (tensors) and the one-utterance-at-a-time one (dicts of prefixes, the Python search of
before): same labellings in the same order, same scores, on random posteriors with many blanks,
repeated labels, exactly tied scores, pruning, a scorer and uneven lengths; and which one ``auto``
picks."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.nn.ctc import ctc_beam_decode
from seqlab.nn.ctc_prefix_search_single import ctc_prefix_search_single, single_search_is_cheaper


def _reference(log_probs, beam_size, blank=0, n_best=1, prune=None, scorer=None):
    """One utterance [T, V] by the one-at-a-time search (the Python search of before the batched one,
    which seqlab keeps; its scores are checked against brute force in test_ctc.py)."""
    return ctc_prefix_search_single(log_probs, beam_size, blank, n_best, prune, scorer)


def _posteriors(generator: torch.Generator, batch: int, frames: int, vocab: int, kind: str) -> torch.Tensor:
    """``peaked``: mostly blank with runs of repeated labels; ``tied``: logits from {0, 1, 2}, so many
    paths (and prefixes) score exactly alike; ``flat``: spread out, so many prefixes compete."""
    if kind == "tied":
        logits = torch.randint(0, 3, (batch, frames, vocab), generator=generator).float()
    elif kind == "peaked":
        path = torch.randint(0, vocab, (batch, frames), generator=generator)
        path = torch.where(torch.rand(batch, frames, generator=generator) < 0.5, 0, path)
        path[:, 1:] = torch.where(
            torch.rand(batch, frames - 1, generator=generator) < 0.4, path[:, :-1], path[:, 1:]
        )
        logits = torch.randn(batch, frames, vocab, generator=generator)
        logits.scatter_add_(2, path[..., None], torch.full((batch, frames, 1), 4.0))
    else:
        logits = torch.randn(batch, frames, vocab, generator=generator) * 0.7
    return logits.log_softmax(-1)


def _assert_same(got, want) -> None:
    assert [labels for labels, _ in got] == [labels for labels, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("kind", ["peaked", "tied", "flat"])
@pytest.mark.parametrize("seed", range(4))
def test_batched_search_equals_the_one_at_a_time_search(kind: str, seed: int) -> None:
    """Random batches with uneven lengths (a zero length too), beam sizes 1 to 9 and n-best lists."""
    generator = torch.Generator().manual_seed(seed)
    batch, frames, vocab = 6, 14, 5
    log_probs = _posteriors(generator, batch, frames, vocab, kind)
    lengths = torch.randint(0, frames + 1, (batch,), generator=generator)
    lengths[0] = frames
    for beam_size, n_best in [(1, 1), (3, 2), (8, 5), (9, 9)]:
        got = ctc_beam_decode(log_probs, lengths, beam_size, n_best=n_best, method="batch")
        for b in range(batch):
            want = _reference(log_probs[b, : int(lengths[b])], beam_size, n_best=n_best)
            _assert_same(got[b], want)


def test_tied_posteriors_really_tie() -> None:
    """The ``tied`` inputs above do put equal scores side by side in the beams, so the tie order is tested."""
    log_probs = _posteriors(torch.Generator().manual_seed(1), 1, 6, 4, "tied")[0]
    scores = [score for _, score in _reference(log_probs, beam_size=30, n_best=30)]
    assert len(scores) != len(set(scores))


@pytest.mark.parametrize("blank", [0, 3])
def test_pruning_another_blank_and_a_scorer_agree(blank: int) -> None:
    """Pruned labels, the blank elsewhere than 0, and a scorer with a ``final`` bonus."""

    class Scorer:
        def __call__(self, prefix: tuple[int, ...], label: int) -> float:
            return -0.5 if prefix and prefix[-1] == label else 0.1 * label

        def final(self, prefix: tuple[int, ...]) -> float:
            return -0.3 * (len(prefix) % 2)

    generator = torch.Generator().manual_seed(11)
    log_probs = _posteriors(generator, 4, 12, 5, "flat")
    lengths = torch.tensor([12, 9, 5, 12])
    for prune, scorer in [(math.log(0.15), None), (None, Scorer()), (math.log(0.1), Scorer())]:
        got = ctc_beam_decode(log_probs, lengths, 6, blank, 4, prune, scorer, method="batch")
        for b in range(4):
            want = _reference(log_probs[b, : int(lengths[b])], 6, blank, 4, prune, scorer)
            _assert_same(got[b], want)


def test_auto_searches_peaked_posteriors_one_by_one_and_flat_ones_batched() -> None:
    """Few labels passing the prune (a trained model): the single search; every label a candidate in a
    large batch: the batched one. Either way ``auto`` returns what both return."""
    generator = torch.Generator().manual_seed(5)
    peaked = (_posteriors(generator, 32, 60, 29, "peaked") * 4).log_softmax(-1)  # sharper, as trained
    flat = _posteriors(generator, 32, 60, 29, "flat")
    lengths = torch.full((32,), 60)
    assert single_search_is_cheaper(peaked, lengths, 8, 0, math.log(1e-3))
    assert not single_search_is_cheaper(flat, lengths, 8, 0, None)
    for log_probs, prune in [(peaked[:4], math.log(1e-3)), (flat[:4], None)]:
        auto = ctc_beam_decode(log_probs, lengths[:4], 8, prune=prune, n_best=3)
        assert auto == ctc_beam_decode(log_probs, lengths[:4], 8, prune=prune, n_best=3, method="batch")


def test_an_empty_batch_has_no_results() -> None:
    for method in ("auto", "batch", "single"):
        assert ctc_beam_decode(torch.zeros(0, 5, 4), torch.zeros(0, dtype=torch.long), method=method) == []
