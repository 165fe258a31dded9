"""CTC: greedy decoding rules, prefix beam search and the loss against brute force over every path,
feasibility (the repeated-label rule) and skipping of infeasible targets."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from seqlab.nn.ctc import (
    ctc_beam_decode,
    ctc_greedy_decode,
    ctc_loss,
    ctc_min_frames,
    ctc_prefix_beam_search,
)

BLANK = 0


def _collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    merged = [label for i, label in enumerate(path) if i == 0 or label != path[i - 1]]
    return tuple(label for label in merged if label != BLANK)


def _brute_force(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """p(labelling | x) for every labelling, summing the probabilities of all V^T paths (float64)."""
    probs = log_probs.double().exp()
    frames, vocab = probs.shape
    totals: dict[tuple[int, ...], float] = defaultdict(float)
    for path in itertools.product(range(vocab), repeat=frames):
        totals[_collapse(path)] += float(torch.prod(probs[torch.arange(frames), torch.tensor(path)]))
    return dict(totals)


def _posteriors(frames: int, vocab: int, seed: int, scale: float = 1.5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(frames, vocab, generator=generator) * scale).log_softmax(-1)


def _peaked(path: list[int], vocab: int, peak: float = 0.9) -> torch.Tensor:
    """Posteriors putting ``peak`` on the given label per frame, the rest spread evenly."""
    probs = torch.full((len(path), vocab), (1 - peak) / (vocab - 1))
    probs[torch.arange(len(path)), torch.tensor(path)] = peak
    return probs.log()


# --- feasibility -----------------------------------------------------------------------------------


def test_min_frames_counts_a_blank_between_repeated_labels():
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1]) == 3  # a, blank, a
    assert ctc_min_frames([1, 1, 1, 2, 2]) == 8
    assert ctc_min_frames([]) == 0
    targets = torch.tensor([[1, 1, 2, 0], [3, 3, 0, 0], [2, 2, 2, 2]])
    # Padding (0) past the length never counts as a repeat, even of a real 0-free tail.
    lengths = torch.tensor([3, 1, 4])
    assert ctc_min_frames(targets, lengths).tolist() == [4, 1, 7]


# --- greedy --------------------------------------------------------------------------------------


def test_greedy_merges_repeats_and_drops_blanks():
    paths = [
        [1, 1, 0, 1, 2, 2, 0, 0],  # a a _ a b b _ _ -> a a b (the blank separates the two a's)
        [0, 0, 0, 0, 0, 0, 0, 0],  # all blank -> nothing
        [3, 3, 3, 3, 3, 3, 3, 3],  # one long label -> one label
        [2, 0, 2, 2, 0, 3, 1, 1],
    ]
    batch = torch.stack([_peaked(p, 4) for p in paths])
    assert ctc_greedy_decode(batch) == [[1, 1, 2], [], [3], [2, 2, 3, 1]]


def test_greedy_ignores_frames_past_the_length():
    batch = torch.stack([_peaked([1, 0, 2, 3, 3], 4), _peaked([2, 2, 0, 1, 1], 4)])
    assert ctc_greedy_decode(batch, torch.tensor([3, 5])) == [[1, 2], [2, 1]]
    assert ctc_greedy_decode(batch, torch.tensor([0, 1])) == [[], [2]]


def test_greedy_with_another_blank_index():
    batch = _peaked([3, 3, 0, 3, 1, 3], 4)[None]
    assert ctc_greedy_decode(batch, blank=3) == [[0, 1]]


# --- prefix beam search -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["single", "batch"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("frames", [4, 5])
def test_full_beam_scores_are_the_exact_labelling_probabilities(frames, seed, method):
    """With a beam holding every prefix, the n-best list is every labelling with its exact probability
    (all alignments summed), in order: in particular the first is the most probable labelling, which
    greedy (best path) often is not. Both searches ``ctc_beam_decode`` chooses between."""
    log_probs = _posteriors(frames, 3, seed)
    exact = _brute_force(log_probs)
    found = ctc_beam_decode(log_probs[None], beam_size=1000, n_best=1000, method=method)[0]
    assert len(found) == len(exact)
    for labels, score in found:
        assert math.exp(score) == pytest.approx(exact[tuple(labels)], rel=1e-4, abs=1e-9)
    best = max(exact.values())
    assert math.exp(found[0][1]) == pytest.approx(best, rel=1e-4)
    assert exact[tuple(found[0][0])] == pytest.approx(best, rel=1e-6)
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)


def test_prefix_search_beats_best_path_where_alignments_add_up():
    """Two frames: best path is "a" via (a, blank) at 0.4*0.4, but "b"'s many alignments sum higher."""
    probs = torch.tensor([[0.25, 0.4, 0.35], [0.4, 0.25, 0.35]])  # blank, a, b
    log_probs = probs.log()
    assert ctc_greedy_decode(log_probs[None]) == [[1]]
    exact = _brute_force(log_probs)
    (labels, score), *_ = ctc_prefix_beam_search(log_probs, beam_size=10)
    assert max(exact, key=exact.get) == (2,)
    assert labels == [2]
    assert math.exp(score) == pytest.approx(exact[(2,)], rel=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_small_beam_finds_the_best_labelling_on_tiny_inputs(seed):
    log_probs = _posteriors(5, 3, 100 + seed, scale=3.0)
    exact = _brute_force(log_probs)
    (labels, _), *_ = ctc_prefix_beam_search(log_probs, beam_size=4)
    assert exact[tuple(labels)] == pytest.approx(max(exact.values()))


def test_beam_one_equals_greedy_on_peaked_posteriors():
    generator = torch.Generator().manual_seed(3)
    paths = torch.randint(0, 5, (6, 12), generator=generator)
    batch = torch.stack([_peaked(p.tolist(), 5, peak=0.97) for p in paths])
    lengths = torch.tensor([12, 10, 7, 12, 3, 1])
    greedy = ctc_greedy_decode(batch, lengths)
    beams = ctc_beam_decode(batch, lengths, beam_size=1)
    assert [b[0][0] for b in beams] == greedy
    assert any(len(g) > 2 for g in greedy)


def test_pruning_and_scorer_hook():
    log_probs = _posteriors(5, 4, 7)
    full = ctc_prefix_beam_search(log_probs, beam_size=16, n_best=3)
    # A threshold no label reaches leaves only blanks: the empty labelling.
    ((labels, score),) = ctc_prefix_beam_search(log_probs, beam_size=16, prune=0.1, n_best=5)
    assert labels == [] and score == pytest.approx(float(log_probs[:, 0].sum()))
    # A huge bonus for label 3 after an empty prefix makes every surviving hypothesis start with 3.
    biased = ctc_prefix_beam_search(
        log_probs,
        beam_size=16,
        n_best=3,
        scorer=lambda prefix, label: 50.0 if not prefix and label == 3 else 0.0,
    )
    assert all(labels[:1] == [3] for labels, _ in biased)
    assert full != biased


def test_beam_search_checks_its_arguments():
    with pytest.raises(ValueError, match=r"\[T, V\]"):
        ctc_prefix_beam_search(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="beam_size"):
        ctc_prefix_beam_search(torch.zeros(3, 4), beam_size=0)


# --- loss ---------------------------------------------------------------------------------------


def test_loss_is_minus_log_of_the_summed_alignments():
    log_probs = torch.stack([_posteriors(5, 3, 11), _posteriors(5, 3, 12)])
    exact = [_brute_force(lp) for lp in log_probs]
    targets = torch.tensor([[1, 2], [2, 2]])
    result = ctc_loss(log_probs, torch.tensor([5, 4]), targets, torch.tensor([2, 2]))
    assert result.feasible.tolist() == [True, True]
    assert result.losses[0].item() == pytest.approx(-math.log(exact[0][(1, 2)]), rel=1e-5)
    shorter = _brute_force(log_probs[1, :4])
    assert result.losses[1].item() == pytest.approx(-math.log(shorter[(2, 2)]), rel=1e-5)


def test_infeasible_targets_are_skipped_and_named():
    log_probs = torch.stack([_posteriors(4, 3, s) for s in range(3)]).requires_grad_()
    targets = torch.tensor([[1, 2, 1], [1, 1, 0], [1, 1, 2]])
    # 2: "aab" needs 4 frames but has 3 (the repeat rule); 1: "aa" fits 3 frames exactly.
    result = ctc_loss(log_probs, torch.tensor([4, 3, 3]), targets, torch.tensor([3, 2, 3]))
    assert result.feasible.tolist() == [True, True, False]
    assert result.skipped == 1
    assert torch.isfinite(result.losses).all() and result.losses[2] == 0
    result.losses.sum().backward()
    assert torch.isfinite(log_probs.grad).all()
    assert (log_probs.grad[2] == 0).all()
    message = result.describe_skipped(ids=[101, 102, 103])
    assert "skipped 1 of 3" in message and "103 (needs 4 frames, has 3)" in message
    assert "101" not in message


def test_loss_runs_in_float32_for_half_inputs():
    log_probs = _posteriors(6, 4, 5)[None].bfloat16()
    result = ctc_loss(log_probs, torch.tensor([6]), torch.tensor([[1, 2, 3]]), torch.tensor([3]))
    assert result.losses.dtype == torch.float32 and torch.isfinite(result.losses).all()
