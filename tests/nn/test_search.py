"""Greedy, beam and sampling search against brute-force enumeration on tiny deterministic step decoders."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from torch import nn

from seqlab.nn.search import (
    Hypothesis,
    StepDecoder,
    beam_search,
    gnmt_length_penalty,
    greedy_search,
    sample_search,
)

PAD, BOS, EOS = 0, 1, 2
V = 7  # PAD, BOS, EOS and four content tokens
CONTENT = tuple(range(3, V))


class MarkovDecoder:
    """Next-token log-probs from a fixed random table indexed by step and previous token, plus a source bias.

    With ``history`` the distribution also depends on a hash of every token fed so far, which lives only
    in the state: searches get it right only if they reorder the state along with their beams.
    ``eos_bias`` shifts EOS's logit to make outputs short (> 0) or long (< 0).
    """

    bos_id, eos_id, pad_id = BOS, EOS, PAD

    def __init__(self, seed: int, history: bool = False, eos_bias: float = 0.0, horizon: int = 12) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(horizon + 1, V, V, generator=g) * 1.5
        self.table[..., EOS] += eos_bias
        self.source = torch.randn(V, V, generator=g)
        self.hashed = torch.randn(13, V, generator=g) * 2.0 if history else None
        self.horizon = horizon

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = torch.arange(src.size(1))[None, :] < src_lengths[:, None]
        bias = (self.source[src] * mask[..., None]).sum(1) / src_lengths[:, None]
        zeros = torch.zeros(src.size(0), dtype=torch.long)
        return {"bias": bias, "t": zeros, "hash": zeros.clone()}

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        logits = self.table[state["t"].clamp(max=self.horizon), tokens] + state["bias"]
        new_hash = (state["hash"] * 5 + tokens) % 13
        if self.hashed is not None:
            logits = logits + self.hashed[new_hash]
        new_state = {"bias": state["bias"], "t": state["t"] + 1, "hash": new_hash}
        return torch.log_softmax(logits, dim=-1), new_state

    def reorder(self, state: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: value.index_select(0, index) for name, value in state.items()}


class ScrambledHistory(MarkovDecoder):
    """A broken decoder: ``reorder`` moves the history hash to the wrong beams of a sentence."""

    def reorder(self, state: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().reorder(state, index)
        out["hash"] = state["hash"].index_select(0, index.sort().values)
        return out


class GRUDecoder(nn.Module):
    """A tiny random GRU encoder-decoder (state: the decoder's hidden [N, H])."""

    bos_id, eos_id, pad_id = BOS, EOS, PAD

    def __init__(self, seed: int, hidden: int = 16) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(V, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.cell = nn.GRUCell(hidden, hidden)
        self.out = nn.Linear(hidden, V)
        self.eval()

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        return self.encoder(packed)[1][0]

    def step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.cell(self.embedding(tokens), state)
        return torch.log_softmax(3.0 * self.out(hidden), dim=-1), hidden

    def reorder(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index)


class CountingDecoder(MarkovDecoder):
    """Counts its steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps = 0

    def step(self, tokens: torch.Tensor, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        self.steps += 1
        return super().step(tokens, state)


def _decoders() -> dict[str, StepDecoder]:
    return {
        "markov": MarkovDecoder(0),
        "history": MarkovDecoder(1, history=True),
        "gru": GRUDecoder(2),
    }


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random sources [B, S] padded with PAD, and their lengths."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (len(lengths), max(lengths)), generator=g)
    lengths_t = torch.tensor(lengths)
    src[torch.arange(src.size(1))[None, :] >= lengths_t[:, None]] = PAD
    return src, lengths_t


def _brute_force(
    model: StepDecoder,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int,
    alpha: float,
    min_len: int = 0,
) -> list[Hypothesis]:
    """Every output of one sentence within ``max_len``, scored; best first. Needs no ``reorder``.

    Runs all content sequences of length ``max_len`` side by side from BOS; a prefix of length d plus EOS
    is scored from the log-probs seen at depth d.
    """
    full = list(itertools.product(CONTENT, repeat=max_len))
    seqs = torch.tensor(full)
    n = len(full)
    state = model.start(src.expand(n, -1), src_lengths.expand(n))
    tokens = torch.full((n,), BOS)
    total = torch.zeros(n)
    log_probs: dict[tuple[int, ...], float] = {}
    for d in range(max_len):
        step_log_probs, state = model.step(tokens, state)
        if d >= min_len:
            for seq, lp in zip(full, (total + step_log_probs[:, EOS]).tolist(), strict=True):
                log_probs[(*seq[:d], EOS)] = lp
        tokens = seqs[:, d]
        total = total + step_log_probs.gather(1, tokens[:, None]).squeeze(1)
    for seq, lp in zip(full, total.tolist(), strict=True):
        log_probs[seq] = lp
    hyps = [
        Hypothesis([tok for tok in seq if tok != EOS], lp / gnmt_length_penalty(len(seq), alpha), lp)
        for seq, lp in log_probs.items()
    ]
    return sorted(hyps, key=lambda h: -h.score)


def _assert_same(got: list[Hypothesis], want: list[Hypothesis]) -> None:
    assert [h.tokens for h in got] == [h.tokens for h in want]
    for g, w in zip(got, want, strict=True):
        assert g.score == pytest.approx(w.score, rel=1e-5, abs=1e-5)
        assert g.log_prob == pytest.approx(w.log_prob, rel=1e-5, abs=1e-5)


def _teacher_forced_log_prob(
    model: StepDecoder, src: torch.Tensor, length: torch.Tensor, hyp: Hypothesis, limit: int
) -> float:
    """The model's log-prob of ``hyp`` (with EOS when it is shorter than ``limit``)."""
    seq = hyp.tokens + ([EOS] if len(hyp.tokens) < limit else [])
    state = model.start(src, length)
    total, token = 0.0, BOS
    for nxt in seq:
        lp, state = model.step(torch.tensor([token]), state)
        total += lp[0, nxt].item()
        token = nxt
    return total


# ---- length penalty ------------------------------------------------------------------------------
def test_gnmt_length_penalty_by_hand() -> None:
    """((5 + L) / 6) ** alpha: 1 at length 1 or alpha 0; (12/6) ** 0.5 = sqrt 2 at length 7."""
    assert gnmt_length_penalty(1, 1.0) == 1.0
    assert gnmt_length_penalty(9, 0.0) == 1.0
    assert gnmt_length_penalty(7, 0.5) == pytest.approx(math.sqrt(2))
    assert gnmt_length_penalty(13, 2.0) == pytest.approx(9.0)
    tensor = gnmt_length_penalty(torch.tensor([1.0, 7.0]), 1.0)
    assert torch.allclose(tensor, torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("alpha", [0.0, 0.8, 2.0])
def test_beam_scores_are_log_prob_over_penalty(alpha: float) -> None:
    """Every returned score is log_prob / penalty(length), length counting EOS (absent at the limit)."""
    model, max_len = MarkovDecoder(3), 6
    src, lengths = _batch([4, 2, 5])
    for i, hyps in enumerate(
        beam_search(model, src, lengths, beam_size=4, n_best=4, max_len=max_len, length_penalty=alpha)
    ):
        assert len(hyps) == 4
        for h in hyps:
            length = min(len(h.tokens) + 1, max_len)
            assert h.score == pytest.approx(h.log_prob / ((5 + length) / 6) ** alpha, rel=1e-6)
            forced = _teacher_forced_log_prob(model, src[i : i + 1], lengths[i : i + 1], h, max_len)
            assert h.log_prob == pytest.approx(forced, rel=1e-5)


# ---- greedy vs beam vs brute force ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["markov", "history", "gru"])
@pytest.mark.parametrize("min_len", [0, 2])
def test_beam_size_one_is_greedy(name: str, min_len: int) -> None:
    """Beam 1 keeps the single best extension each step, which is exactly greedy decoding."""
    model = _decoders()[name]
    src, lengths = _batch([5, 1, 3, 7], seed=1)
    greedy = greedy_search(model, src, lengths, max_len=9, min_len=min_len)
    beam = beam_search(model, src, lengths, beam_size=1, max_len=9, min_len=min_len)
    for g, b in zip(greedy, beam, strict=True):
        _assert_same(b, [g])


@pytest.mark.parametrize("name", ["markov", "history", "gru"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_brute_force_n_best(name: str, alpha: float) -> None:
    """With room for every prefix, beam search returns the exact top-n outputs in order, with their scores."""
    model, max_len = _decoders()[name], 4
    src, lengths = _batch([3, 5], seed=2)
    results = beam_search(
        model,
        src,
        lengths,
        beam_size=len(CONTENT) ** max_len,
        n_best=6,
        max_len=max_len,
        length_penalty=alpha,
    )
    for i, got in enumerate(results):
        want = _brute_force(model, src[i : i + 1], lengths[i : i + 1], max_len, alpha)
        _assert_same(got, want[:6])
        assert got[0].score > want[6].score


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("eos_bias", [0.0, 2.0])
@pytest.mark.parametrize("n_best", [1, 3])
def test_early_stopping_loses_nothing(alpha: float, eos_bias: float, n_best: int) -> None:
    """Stopping a sentence before its limit never drops a hypothesis that brute force ranks in the top n.

    EOS-prone models finish hypotheses early, so the stopping rule fires; with alpha > 0 a longer
    hypothesis can still overtake them, which a too-eager rule would miss.
    """
    for seed in range(6):
        model = MarkovDecoder(20 + seed, history=True, eos_bias=eos_bias)
        src, lengths = _batch([2, 5], seed=seed)
        got = beam_search(model, src, lengths, beam_size=256, n_best=n_best, max_len=4, length_penalty=alpha)
        for i in range(2):
            _assert_same(got[i], _brute_force(model, src[i : i + 1], lengths[i : i + 1], 4, alpha)[:n_best])


def test_length_penalty_keeps_searching_for_a_longer_winner() -> None:
    """EOS at once (p 0.6) beats 3 3 3 3 (p 0.4) on log-prob, but loses under alpha 2 (penalty 2.25 at length
    4); after step one only a bound using the largest reachable penalty knows the live beam can still win."""
    model = MarkovDecoder(0)
    model.source.zero_()
    model.table.fill_(-20.0)
    model.table[0, BOS, EOS], model.table[0, BOS, 3] = math.log(0.6), math.log(0.4)
    model.table[1:, 3, 3] = 0.0
    src, lengths = _batch([3], seed=0)
    want = _brute_force(model, src, lengths, 4, 2.0)[:1]
    assert want[0].tokens == [3, 3, 3, 3]
    _assert_same(beam_search(model, src, lengths, beam_size=2, max_len=4, length_penalty=2.0)[0], want)
    assert beam_search(model, src, lengths, beam_size=2, max_len=4)[0][0].tokens == []


def test_length_penalty_changes_the_winner() -> None:
    """On the brute-force model the alpha test above is not vacuous: alpha 1 prefers a different ranking."""
    model = MarkovDecoder(0)
    src, lengths = _batch([3], seed=2)
    plain = [h.tokens for h in _brute_force(model, src, lengths, 4, 0.0)[:6]]
    penalised = [h.tokens for h in _brute_force(model, src, lengths, 4, 1.0)[:6]]
    assert plain != penalised


def test_wide_beam_respects_min_len_like_brute_force() -> None:
    model, max_len = MarkovDecoder(4, eos_bias=2.0), 4
    src, lengths = _batch([4], seed=3)
    got = beam_search(
        model, src, lengths, beam_size=256, n_best=3, max_len=max_len, min_len=2, length_penalty=0.5
    )[0]
    _assert_same(got, _brute_force(model, src, lengths, max_len, 0.5, min_len=2)[:3])


def test_beam_reorders_the_decoder_state() -> None:
    """A decoder whose state carries its history matches brute force only if its state follows the beams:
    the same decoder with a reorder that misplaces the history gives other results."""
    src, lengths = _batch([3, 4], seed=4)

    def check(model: MarkovDecoder) -> bool:
        got = beam_search(model, src, lengths, beam_size=256, n_best=6, max_len=4)
        want = [_brute_force(model, src[i : i + 1], lengths[i : i + 1], 4, 0.0)[:6] for i in range(2)]
        try:
            for g, w in zip(got, want, strict=True):
                _assert_same(g, w)
        except AssertionError:
            return False
        return True

    assert all(check(MarkovDecoder(10 + seed, history=True)) for seed in range(3))
    assert not check(ScrambledHistory(10, history=True))


def test_n_best_is_distinct_and_ordered() -> None:
    """n_best hypotheses come best first and, thanks to the single live beam at step one, never repeat."""
    model = GRUDecoder(5)
    src, lengths = _batch([6, 2, 4], seed=5)
    for hyps in beam_search(model, src, lengths, beam_size=5, n_best=5, max_len=10, length_penalty=0.6):
        assert len(hyps) == 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 5


# ---- batching ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["markov", "history", "gru"])
def test_batched_equals_one_sentence_at_a_time(name: str) -> None:
    """Sentences of different lengths decoded together give what each gives alone (beam and greedy)."""
    model = _decoders()[name]
    src, lengths = _batch([5, 2, 7, 3, 1, 4], seed=6)
    kwargs: dict[str, Any] = {
        "beam_size": 6,
        "n_best": 3,
        "max_len": 9,
        "max_len_ratio": 1.5,
        "length_penalty": 0.6,
        "min_len": 1,
    }
    batched = beam_search(model, src, lengths, **kwargs)
    batched_greedy = greedy_search(model, src, lengths, max_len=9, max_len_ratio=1.5)
    for i, n in enumerate(lengths.tolist()):
        alone = beam_search(model, src[i : i + 1, :n], lengths[i : i + 1], **kwargs)
        _assert_same(batched[i], alone[0])
        greedy_alone = greedy_search(
            model, src[i : i + 1, :n], lengths[i : i + 1], max_len=9, max_len_ratio=1.5
        )
        _assert_same([batched_greedy[i]], greedy_alone)


# ---- length limits -------------------------------------------------------------------------------
def test_min_len_prevents_early_eos() -> None:
    """On a model that wants to stop at once, no output is shorter than min_len (and without it, some are)."""
    model = MarkovDecoder(7, eos_bias=6.0)
    src, lengths = _batch([3, 5, 2], seed=7)
    short = beam_search(model, src, lengths, beam_size=3, n_best=3, max_len=10)
    assert min(len(h.tokens) for hyps in short for h in hyps) < 3
    assert min(len(h.tokens) for h in greedy_search(model, src, lengths, max_len=10)) < 3
    for hyps in beam_search(model, src, lengths, beam_size=3, n_best=3, max_len=10, min_len=3):
        assert all(len(h.tokens) >= 3 for h in hyps)
    assert all(len(h.tokens) >= 3 for h in greedy_search(model, src, lengths, max_len=10, min_len=3))
    g = torch.Generator().manual_seed(0)
    samples = sample_search(model, src, lengths, max_len=10, min_len=3, generator=g)
    assert all(len(h.tokens) >= 3 for h in samples)


@pytest.mark.parametrize("ratio", [None, 0.5, 1.5, 0.01])
def test_length_limits(ratio: float | None) -> None:
    """On a model that never wants to stop, every output is exactly min(max_len, ceil(ratio * len)) long."""
    model, max_len = MarkovDecoder(8, eos_bias=-30.0), 6
    src, lengths = _batch([5, 2, 7, 1], seed=8)
    if ratio is None:
        expected = [max_len] * 4
    else:
        expected = [max(1, min(max_len, math.ceil(ratio * n))) for n in lengths.tolist()]
    beams = beam_search(model, src, lengths, beam_size=3, n_best=2, max_len=max_len, max_len_ratio=ratio)
    assert [[len(h.tokens) for h in hyps] for hyps in beams] == [[n, n] for n in expected]
    greedy = greedy_search(model, src, lengths, max_len=max_len, max_len_ratio=ratio)
    assert [len(h.tokens) for h in greedy] == expected
    g = torch.Generator().manual_seed(0)
    samples = sample_search(model, src, lengths, max_len=max_len, max_len_ratio=ratio, generator=g)
    assert [len(h.tokens) for h in samples] == expected


def test_beam_stops_early_once_nothing_can_beat_the_finished() -> None:
    """With EOS likely, search ends long before max_len (and agrees with a search capped far lower)."""
    model = CountingDecoder(9, eos_bias=4.0)
    src, lengths = _batch([3, 4], seed=9)
    result = beam_search(model, src, lengths, beam_size=3, n_best=2, max_len=200)
    assert model.steps < 20
    assert all(len(h.tokens) < 20 for hyps in result for h in hyps)


# ---- n-gram blocking -----------------------------------------------------------------------------
def _ngrams(tokens: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram(n: int) -> None:
    """A model that loves the cycle 3 4 3 4 ... repeats n-grams unless they are blocked."""
    model = MarkovDecoder(11, eos_bias=-30.0)
    model.table[:, :, 3:] = -5.0
    model.table[:, 3, 4] = model.table[:, 4, 3] = model.table[:, BOS, 3] = 5.0
    src, lengths = _batch([3, 6], seed=11)
    free = beam_search(model, src, lengths, beam_size=4, n_best=4, max_len=8)
    assert all(len(set(_ngrams(h.tokens, n))) < len(_ngrams(h.tokens, n)) for hyps in free for h in hyps)
    limit = 8 if n > 1 else len(CONTENT)  # with unigrams blocked only four tokens exist
    blocked = beam_search(model, src, lengths, beam_size=4, n_best=4, max_len=limit, no_repeat_ngram_size=n)
    for hyps in blocked:
        assert len(hyps) == 4
        for h in hyps:
            assert len(set(_ngrams(h.tokens, n))) == len(_ngrams(h.tokens, n))


# ---- sampling ------------------------------------------------------------------------------------
def test_sampling_is_reproducible_with_a_seeded_generator() -> None:
    model = GRUDecoder(12)
    src, lengths = _batch([4, 2, 6, 3, 5, 1], seed=12)

    def draw(seed: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(seed)
        return [
            h.tokens for h in sample_search(model, src, lengths, max_len=12, temperature=1.5, generator=g)
        ]

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


@pytest.mark.parametrize(
    "kwargs", [{"temperature": 0.0}, {"top_k": 1}, {"top_k": 1, "temperature": 5.0}, {"top_p": 1e-6}]
)
def test_degenerate_sampling_is_greedy(kwargs: dict[str, Any]) -> None:
    model = GRUDecoder(13)
    src, lengths = _batch([4, 2, 6, 3], seed=13)
    greedy = greedy_search(model, src, lengths, max_len=10, min_len=1)
    g = torch.Generator().manual_seed(0)
    sampled = sample_search(model, src, lengths, max_len=10, min_len=1, generator=g, **kwargs)
    _assert_same(sampled, greedy)


def test_sample_log_prob_is_the_models() -> None:
    """The reported log-prob is the model's, whatever the temperature and filters sampled from."""
    model = MarkovDecoder(14, history=True)
    src, lengths = _batch([4, 2, 6], seed=14)
    g = torch.Generator().manual_seed(0)
    for i, h in enumerate(
        sample_search(model, src, lengths, max_len=8, temperature=2.0, top_k=3, generator=g)
    ):
        forced = _teacher_forced_log_prob(model, src[i : i + 1], lengths[i : i + 1], h, 8)
        assert h.log_prob == pytest.approx(forced, rel=1e-5)
        assert h.score == h.log_prob


# ---- arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_best": 3, "beam_size": 2},
        {"beam_size": 0},
        {"max_len": 0},
        {"min_len": -1},
        {"max_len_ratio": 0.0},
        {"no_repeat_ngram_size": -1},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    src, lengths = _batch([2])
    with pytest.raises(ValueError):
        beam_search(MarkovDecoder(0), src, lengths, **kwargs)
