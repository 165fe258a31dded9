"""Both CTC prefix beam searches (the batched one and seqlab's one-utterance-at-a-time one, which
``ctc_beam_decode`` chooses between) against the Python search of before (kept below as the reference):
same labellings in the same order, same scores, on random posteriors with many blanks, repeated labels,
exactly tied scores, pruning, a scorer and uneven lengths; and which one ``auto`` picks."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.nn.ctc import ctc_beam_decode
from seqlab.nn.ctc_prefix_search_single import single_search_is_cheaper

NEG_INF = float("-inf")


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _reference(log_probs, beam_size, blank=0, n_best=1, prune=None, scorer=None):
    """seqlab's prefix beam search before it was batched (dicts of prefixes, a Python loop per label)."""
    frames = log_probs.detach().float().cpu().tolist()
    labels = [v for v in range(log_probs.size(1)) if v != blank]
    beams = {(): (0.0, NEG_INF)}
    for frame in frames:
        candidates = labels if prune is None else [v for v in labels if frame[v] >= prune]
        blank_lp = frame[blank]
        nxt = {}
        for prefix, (p_blank, p_label) in beams.items():
            total = _logaddexp(p_blank, p_label)
            here = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
            here[0] = _logaddexp(here[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            if last is not None:
                here[1] = _logaddexp(here[1], p_label + frame[last])
            for v in candidates:
                source = p_blank if v == last else total
                if source == NEG_INF:
                    continue
                gain = source + frame[v] + (scorer(prefix, v) if scorer is not None else 0.0)
                target = nxt.setdefault((*prefix, v), [NEG_INF, NEG_INF])
                target[1] = _logaddexp(target[1], gain)
        ranked = sorted(nxt.items(), key=lambda item: _logaddexp(*item[1]), reverse=True)
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in ranked[:beam_size]}
    final = getattr(scorer, "final", None)
    ranked = sorted(
        ((list(p), _logaddexp(pb, pl) + (final(p) if final else 0.0)) for p, (pb, pl) in beams.items()),
        key=lambda r: -r[1],
    )
    return ranked[:n_best]


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


@pytest.mark.parametrize("method", ["batch", "single"])
@pytest.mark.parametrize("kind", ["peaked", "tied", "flat"])
@pytest.mark.parametrize("seed", range(4))
def test_each_search_equals_the_reference(kind: str, seed: int, method: str) -> None:
    """Random batches with uneven lengths (a zero length too), beam sizes 1 to 9 and n-best lists."""
    generator = torch.Generator().manual_seed(seed)
    batch, frames, vocab = 6, 14, 5
    log_probs = _posteriors(generator, batch, frames, vocab, kind)
    lengths = torch.randint(0, frames + 1, (batch,), generator=generator)
    lengths[0] = frames
    for beam_size, n_best in [(1, 1), (3, 2), (8, 5), (9, 9)]:
        got = ctc_beam_decode(log_probs, lengths, beam_size, n_best=n_best, method=method)
        for b in range(batch):
            want = _reference(log_probs[b, : int(lengths[b])], beam_size, n_best=n_best)
            _assert_same(got[b], want)


def test_tied_posteriors_really_tie() -> None:
    """The ``tied`` inputs above do put equal scores side by side in the beams, so the tie order is tested."""
    log_probs = _posteriors(torch.Generator().manual_seed(1), 1, 6, 4, "tied")[0]
    scores = [score for _, score in _reference(log_probs, beam_size=30, n_best=30)]
    assert len(scores) != len(set(scores))


@pytest.mark.parametrize("method", ["batch", "single"])
@pytest.mark.parametrize("blank", [0, 3])
def test_pruning_another_blank_and_a_scorer_equal_the_reference(blank: int, method: str) -> None:
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
        got = ctc_beam_decode(log_probs, lengths, 6, blank, 4, prune, scorer, method=method)
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
