"""NgramLM: Kneser-Ney and add-k probabilities against hand computation and a plain-Python reference,
normalisation, counting over windows, the lookup paths, checkpoints and argument checks."""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter
from fractions import Fraction as F

import numpy as np
import pytest
import torch

from seqlab.nn import NgramConfig, ngram
from seqlab.nn.ngram import BOS, FALLBACK_DISCOUNTS, NgramLM, kn_discounts


def fitted(stream: torch.Tensor, vocab_size: int, order: int, smoothing: str = "kneser_ney", k: float = 1.0):
    """A model counted over the streams [B, L] in one pass (inputs ``[:, :-1]``, targets ``[:, 1:]``)."""
    model = NgramLM(vocab_size, NgramConfig(order, smoothing, k))
    model.update(stream[:, :-1], stream[:, 1:])
    return model


def probs(model: NgramLM, ids: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
    return model(ids, state)[0].double().exp()


# ---- hand-computed -----------------------------------------------------------------------------
ABC = "abcd"
# A walk with bigram counts ab 1, ac 1, ca 2, cb 2, bc 3, cc 4; "d" is never seen.
HAND_STREAM = "cccccabcbcacbc"


def test_bigram_kneser_ney_matches_hand_computation():
    """Order 2, V = 4, counts above. Bigram count-of-counts n1..n4 = 2, 2, 1, 1, so (Chen & Goodman)
    Y = n1/(n1+2n2) = 1/3, D1 = 1-2Y n2/n1 = 1/3, D2 = 2-3Y n3/n2 = 3/2, D3+ = 3-4Y n4/n3 = 5/3.
    Unigram continuation counts N1+(. w): a <- {c} 1, b <- {a, c} 2, c <- {a, b, c} 3, d 0; so
    n1..n4 = 1, 1, 1, 0, Y = 1/3, D1 = 1/3, D2 = 1, D3+ = 3.
    P1(w) = (N1+(. w) - D) / 6 + gamma1 / 4 with gamma1 = (1/3 + 1 + 3) / 6 = 13/18.
    P2(w | h) = (c(h w) - D) / c(h) + gamma(h) P1(w) with gamma(h) = sum of D over h's successors / c(h);
    an unseen context (d) backs off to P1."""
    stream = torch.tensor([[ABC.index(c) for c in HAND_STREAM]])
    model = fitted(stream, 4, 2)
    model.finalize()
    np.testing.assert_allclose(model.discounts[2], [1 / 3, 3 / 2, 5 / 3])
    np.testing.assert_allclose(model.discounts[1], [1 / 3, 1, 3])

    gamma1 = (F(1, 3) + 1 + 3) / 6
    p1 = {"a": F(1 - F(1, 3), 6), "b": F(2 - 1, 6), "c": F(3 - 3, 6), "d": F(0)}
    p1 = {w: p + gamma1 / 4 for w, p in p1.items()}
    assert p1 == {"a": F(21, 72), "b": F(25, 72), "c": F(13, 72), "d": F(13, 72)}
    d1, d2, d3 = F(1, 3), F(3, 2), F(5, 3)
    expected = {
        # c(a.) = 2: ab 1, ac 1; gamma = 2 D1 / 2
        "a": {"b": (1 - d1) / 2, "c": (1 - d1) / 2, "gamma": 2 * d1 / 2},
        # c(b.) = 3: bc 3; gamma = D3+ / 3
        "b": {"c": (3 - d3) / 3, "gamma": d3 / 3},
        # c(c.) = 8: ca 2, cb 2, cc 4; gamma = (2 D2 + D3+) / 8
        "c": {"a": (2 - d2) / 8, "b": (2 - d2) / 8, "c": (4 - d3) / 8, "gamma": (2 * d2 + d3) / 8},
        "d": {"gamma": F(1)},
    }
    got = probs(model, torch.tensor([[0, 1, 2, 3]]))[0]
    for i, h in enumerate(ABC):
        want = [float(expected[h].get(w, 0) + expected[h]["gamma"] * p1[w]) for w in ABC]
        np.testing.assert_allclose(got[i].numpy(), want, atol=1e-6, err_msg=f"P(. | {h})")


def test_order_one_reduces_to_unigram_forms():
    """Order 1 ignores history: KN is (c(w) - D[c(w)]) / N + gamma / V with D from the unigram
    count-of-counts, add-k is (c(w) + k) / (N + kV); the state is empty."""
    torch.manual_seed(1)
    v, stream = 9, torch.randint(0, 7, (2, 400))  # ids 7, 8 never occur
    counts = np.bincount(stream[:, 1:].flatten().numpy(), minlength=v).astype(float)
    n = counts.sum()
    d = kn_discounts(counts.astype(np.int64))
    discount = d[np.minimum(counts, 3).astype(int)]
    kn = (counts - discount) / n + discount.sum() / n / v
    addk = (counts + 0.5) / (n + 0.5 * v)
    ids = torch.randint(0, v, (3, 5))
    for smoothing, want in (("kneser_ney", kn), ("add_k", addk)):
        model = fitted(stream, v, 1, smoothing, k=0.5)
        logp, state = model(ids)
        assert state.shape == (3, 0)
        np.testing.assert_allclose(logp.double().exp().numpy(), np.broadcast_to(want, (3, 5, v)), atol=1e-6)


def test_add_k_bigram_formula():
    """(c(h w) + k) / (c(h) + kV), also for an unseen context (c(h) = 0: uniform)."""
    stream = torch.tensor([[ABC.index(c) for c in HAND_STREAM]])
    model = fitted(stream, 4, 2, "add_k", k=0.25)
    got = probs(model, torch.tensor([[2, 3]]))[0]
    np.testing.assert_allclose(got[0].numpy(), [(2.25) / 9, 2.25 / 9, 4.25 / 9, 0.25 / 9], atol=1e-6)
    np.testing.assert_allclose(got[1].numpy(), [0.25] * 4, atol=1e-6)


# ---- a plain-Python reference ------------------------------------------------------------------
def reference_kneser_ney(streams: list[list[int]], vocab_size: int, n: int):
    """Interpolated modified Kneser-Ney written out with dictionaries: streams padded with n-1 start
    markers, continuation counts below the top order except for n-grams that begin with the start
    marker (raw counts), C&G discounts per order (fallback 0.5/1/1.5), uniform at the bottom."""
    start = "<s>"
    counts: dict[int, Counter] = {n: Counter()}
    for s in streams:
        padded = [start] * (n - 1) + s
        for i in range(n, len(padded)):  # every token but the first is predicted once
            counts[n][tuple(padded[i - n + 1 : i + 1])] += 1
    for m in range(n - 1, 0, -1):
        counts[m] = Counter()
        for gram, c in counts[m + 1].items():
            counts[m][gram[1:]] += c if gram[1] == start else 1
    discounts = {}
    for m, table in counts.items():
        nr = [sum(1 for c in table.values() if c == r) for r in (1, 2, 3, 4)]
        try:
            y = nr[0] / (nr[0] + 2 * nr[1])
            d = [r - (r + 1) * y * nr[r] / nr[r - 1] for r in (1, 2, 3)]
            ok = all(0 < d[r - 1] <= r for r in (1, 2, 3))
        except ZeroDivisionError:
            ok = False
        discounts[m] = d if ok else list(FALLBACK_DISCOUNTS)

    def prob(history: tuple, w: int, m: int) -> float:
        if m == 0:
            return 1 / vocab_size
        h = history[len(history) - (m - 1) :] if m > 1 else ()
        successors = {g[-1]: c for g, c in counts[m].items() if g[:-1] == h}
        total = sum(successors.values())
        if total == 0:
            return prob(history, w, m - 1)
        d = discounts[m]
        gamma = sum(d[min(c, 3) - 1] for c in successors.values()) / total
        c = successors.get(w, 0)
        return (c - d[min(c, 3) - 1] if c else 0) / total + gamma * prob(history, w, m - 1)

    return prob


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kneser_ney_matches_reference(order):
    """Every probability of every position of training and unseen streams, from a fresh state."""
    gen = torch.Generator().manual_seed(order)
    v = 6
    train = torch.randint(0, 4, (4, 60), generator=gen)  # a skewed, small alphabet: many repeats
    train[1, ::3] = 4
    train[:3, :3] = torch.tensor([2, 0, 1])  # streams that start alike: start n-grams counted > 1
    model = fitted(train, v, order)
    prob = reference_kneser_ney(train.tolist(), v, order)
    test = torch.cat([train[:, :20], torch.randint(0, v, (4, 20), generator=gen)], dim=1)
    got = probs(model, test)
    for b, row in enumerate(test.tolist()):
        padded = ["<s>"] * (order - 1) + row
        for t in range(len(row)):
            history = tuple(padded[t + 1 : t + order])
            want = [prob(history, w, order) for w in range(v)]
            np.testing.assert_allclose(got[b, t].numpy(), want, atol=1e-6, err_msg=f"stream {b} pos {t}")


# ---- normalisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one(order, smoothing):
    """Over the whole vocabulary, in seen contexts (the training streams, carried state) and unseen
    ones (random tokens, including ids never counted), every probability positive."""
    gen = torch.Generator().manual_seed(10 * order)
    v = 12
    train = torch.randint(0, 9, (4, 300), generator=gen)
    model = fitted(train, v, order, smoothing, k=0.1)
    unseen = torch.randint(0, v, (4, 50), generator=gen)
    for ids, state in ((train[:, :-1], None), (unseen, None), (unseen, torch.randint(0, v, (4, order - 1)))):
        p = probs(model, ids, state)
        assert (p > 0).all()
        np.testing.assert_allclose(p.sum(-1).numpy(), 1.0, atol=1e-6)


def test_untrained_model_is_uniform():
    """No counts (e.g. Lightning's sanity validation before training): the uniform distribution."""
    logp, state = NgramLM(5, NgramConfig(3))(torch.tensor([[1, 2, 3]]))
    torch.testing.assert_close(logp, torch.full((1, 3, 5), -math.log(5)))
    assert state.tolist() == [[2, 3]]


# ---- counting over windows ---------------------------------------------------------------------
def test_windows_with_carried_state_count_like_one_pass():
    """Windows of uneven lengths, each with the state the previous returned, count exactly the
    n-grams of one pass over the streams, and score every position the same."""
    gen = torch.Generator().manual_seed(3)
    stream = torch.randint(0, 10, (3, 241), generator=gen)
    inputs, targets = stream[:, :-1], stream[:, 1:]
    whole = NgramLM(10, NgramConfig(4))
    assert whole.update(inputs, targets).tolist() == inputs[:, -3:].tolist()
    windowed, state, cuts = NgramLM(10, NgramConfig(4)), None, [0, 1, 2, 7, 50, 51, 130, 240]
    for lo, hi in itertools.pairwise(cuts):
        state = windowed.update(inputs[:, lo:hi], targets[:, lo:hi], state)
    for a, b in zip(whole.counts(), windowed.counts(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert windowed.num_tokens == targets.numel() == int(windowed.counts()[1].sum())

    full, _ = whole(inputs)
    parts, state = [], None
    for lo, hi in itertools.pairwise(cuts):
        logp, state = whole(inputs[:, lo:hi], state)
        parts.append(logp)
    torch.testing.assert_close(torch.cat(parts, dim=1), full)


def test_tables_follow_the_counts():
    """Scoring builds the tables; counting more afterwards (training after a mid-epoch validation)
    makes the next call score with all the counts."""
    gen = torch.Generator().manual_seed(4)
    stream = torch.randint(0, 6, (2, 101), generator=gen)
    model = NgramLM(6, NgramConfig(3))
    state = model.update(stream[:, :50], stream[:, 1:51])
    before, _ = model(stream[:, :10])
    model.update(stream[:, 50:-1], stream[:, 51:], state)
    after, _ = model(stream[:, :10])
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fitted(stream, 6, 3)(stream[:, :10])[0])


def test_state_marks_stream_start():
    """A fresh state is n-1 start markers; the state after a window is its last n-1 tokens."""
    model = NgramLM(5, NgramConfig(4))
    state = model.update(torch.tensor([[1]]), torch.tensor([[2]]))
    assert state.tolist() == [[BOS, BOS, 1]]
    assert model.update(torch.tensor([[2, 3]]), torch.tensor([[3, 4]]), state).tolist() == [[1, 2, 3]]


def test_lookup_paths_agree(monkeypatch):
    """Dense low-order tables, sparse lookups only, and small blocks of rows give the same numbers."""
    gen = torch.Generator().manual_seed(5)
    train = torch.randint(0, 20, (4, 500), generator=gen)
    ids = torch.randint(0, 20, (4, 64), generator=gen)
    results = []
    for dense, block in ((1 << 22, 1 << 22), (0, 1 << 22), (0, 7 * 20)):
        monkeypatch.setattr(ngram, "_DENSE_FLOATS", dense)
        monkeypatch.setattr(ngram, "_FLOATS_AT_ONCE", block)
        for smoothing in ("kneser_ney", "add_k"):
            model = fitted(train, 20, 3, smoothing)
            model.finalize()
            assert model._dense_order == (3 if dense else 0)
            results.append(model(ids)[0])
    for i in (2, 4):
        torch.testing.assert_close(results[i], results[0])
        torch.testing.assert_close(results[i + 1], results[1])


# ---- discounts, checkpoints, arguments ---------------------------------------------------------
def test_discounts_and_fallback():
    """Chen & Goodman's formulas from n1..n4; KenLM's fallback when they are undefined."""
    counts = np.array([1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [9])
    y = 10 / (10 + 2 * 5)
    np.testing.assert_allclose(
        kn_discounts(counts), [0, 1 - 2 * y * 5 / 10, 2 - 3 * y * 3 / 5, 3 - 4 * y * 2 / 3]
    )
    np.testing.assert_allclose(kn_discounts(np.array([1, 1, 2])), [0, *FALLBACK_DISCOUNTS])  # n3 = 0
    np.testing.assert_allclose(kn_discounts(np.zeros(0, np.int64)), [0, *FALLBACK_DISCOUNTS])


def test_counts_round_trip_through_a_weights_only_checkpoint():
    """The counts are the module's extra state: one int64 tensor, saved and loaded with
    weights_only=True; the loaded model scores exactly like the original. Counts made for another
    order are refused."""
    gen = torch.Generator().manual_seed(7)
    model = fitted(torch.randint(0, 8, (2, 200), generator=gen), 8, 3)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    loaded_state = torch.load(buffer, weights_only=True)
    loaded = NgramLM(8, NgramConfig(3))
    loaded.load_state_dict(loaded_state)
    ids = torch.randint(0, 8, (2, 30), generator=gen)
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0])
    assert loaded.num_tokens == model.num_tokens == 2 * 199
    with pytest.raises(ValueError, match="do not fit order 2"):
        NgramLM(8, NgramConfig(2)).load_state_dict(loaded_state)


def test_overflowing_keys_and_bad_arguments_are_refused():
    """vocab_size+1 to the power order must fit in int64: 8001**5 does not, 223**8 does."""
    with pytest.raises(ValueError, match=r"64-bit key .*use order <= 4"):
        NgramLM(8000, NgramConfig(5))
    NgramLM(222, NgramConfig(8))
    with pytest.raises(ValueError, match=r"order must be 1\.\.8"):
        NgramLM(10, NgramConfig(9))
    with pytest.raises(ValueError, match="k > 0"):
        NgramLM(10, NgramConfig(2, "add_k", k=0))
    with pytest.raises(ValueError, match="smoothing"):
        NgramLM(10, NgramConfig(2, "witten_bell"))  # type: ignore[arg-type]
    model = NgramLM(10, NgramConfig(2))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        model.update(torch.tensor([[1, 10]]), torch.tensor([[10, 2]]))
    with pytest.raises(ValueError, match=r"state must be \[batch, 1\]"):
        model(torch.tensor([[1, 2]]), torch.zeros(1, 3, dtype=torch.long))
