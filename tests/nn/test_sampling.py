"""filter_logits, sample_next and generate: top-k / nucleus support, greedy decoding and seeding."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.nn import RecurrentLM, RecurrentLMConfig, filter_logits, generate, sample_next

V = 11


def _kept(logits: torch.Tensor) -> set[int]:
    return set(torch.isfinite(logits).nonzero().flatten().tolist())


def _tiny_lm() -> RecurrentLM:
    return RecurrentLM(V, RecurrentLMConfig("lstm", embedding_size=6, hidden_size=12, num_layers=2)).eval()


# ---- filter_logits -------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 7])
def test_top_k_keeps_exactly_the_k_largest(k: int) -> None:
    """top_k leaves the k largest logits untouched and sets every other one to -inf, row by row."""
    logits = torch.randn(4, V)
    out = filter_logits(logits, top_k=k)
    for row_in, row_out in zip(logits, out, strict=True):
        top = set(torch.topk(row_in, k).indices.tolist())
        assert _kept(row_out) == top
        assert torch.equal(row_out[list(top)], row_in[list(top)])
    assert torch.isfinite(logits).all()  # the input is not modified


def test_top_k_out_of_range_is_a_no_op() -> None:
    """top_k of 0, None or >= vocabulary keeps everything."""
    logits = torch.randn(2, V)
    for k in (None, 0, V, V + 5):
        assert torch.equal(filter_logits(logits, top_k=k), logits)


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [
        (1e-6, 1),
        (0.4999, 1),
        (0.5001, 2),
        (0.7, 2),
        (0.7999, 2),
        (0.8001, 3),
        (0.81, 3),
        (0.9499, 3),
        (0.9501, 4),
    ],
)
def test_top_p_keeps_smallest_prefix_reaching_p(top_p: float, kept: int) -> None:
    """Nucleus with probs [0.5, 0.3, 0.15, 0.05] (shuffled): prefix masses 0.5, 0.8, 0.95, 1.0, so the kept
    set is the smallest sorted prefix whose mass reaches top_p."""
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    by_rank = [1, 3, 2, 0]  # ids from most to least probable
    out = filter_logits(probs.log(), top_p=top_p)
    assert _kept(out) == set(by_rank[:kept])
    assert torch.equal(out[by_rank[:kept]], probs.log()[by_rank[:kept]])


@pytest.mark.parametrize(
    ("top_p", "kept"), [(0.25, 1), (0.5, 2), (0.5 + 1e-6, 3), (0.75, 3), (0.75 + 1e-6, 4)]
)
def test_top_p_exact_boundary_is_inclusive(top_p: float, kept: int) -> None:
    """With exactly representable masses (uniform over 4), a prefix whose mass equals top_p suffices."""
    out = filter_logits(torch.zeros(1, 4), top_p=top_p)
    assert torch.isfinite(out).sum().item() == kept


def test_top_p_always_keeps_the_top_token() -> None:
    """Even a tiny top_p keeps the most probable token of every row, whatever its mass."""
    logits = torch.randn(6, V)
    out = filter_logits(logits, top_p=1e-9)
    assert torch.isfinite(out).sum(-1).tolist() == [1] * 6
    assert torch.equal(out.argmax(-1), logits.argmax(-1))
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)  # 1.0 keeps everything


def test_top_k_then_top_p_renormalises_within_top_k() -> None:
    """top_p is applied to the distribution left by top_k: with k=2 of masses 0.5/0.3, p=0.6 keeps one."""
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    assert _kept(filter_logits(logits, top_k=2, top_p=0.62)) == {0}  # 0.5/0.8 = 0.625 >= 0.62
    assert _kept(filter_logits(logits, top_k=2, top_p=0.63)) == {0, 1}


# ---- sample_next ---------------------------------------------------------------------------------
def test_temperature_zero_is_argmax_and_deterministic() -> None:
    """Temperature 0 returns the argmax of every row, ignoring the generator, call after call."""
    logits = torch.randn(32, V)
    first = sample_next(logits, temperature=0.0, generator=torch.Generator().manual_seed(1))
    second = sample_next(logits, temperature=0.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, logits.argmax(-1))
    assert torch.equal(first, second)


def test_negative_temperature_raises() -> None:
    """A negative temperature is rejected."""
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.randn(2, V), temperature=-0.5)


def test_top_k_sampling_support_and_frequencies() -> None:
    """5000 draws with top_k=3 only ever give the 3 most likely ids, each with its renormalised frequency."""
    logits = torch.tensor([0.1, 1.5, -0.3, 1.0, 0.2, 1.2, -1.0, 0.0, 0.4, -2.0, 0.3])
    top = torch.topk(logits, 3).indices
    draws = sample_next(logits.expand(5000, V), top_k=3, generator=torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == set(top.tolist())
    expected = torch.softmax(logits[top], -1)
    observed = torch.stack([(draws == i).float().mean() for i in top])
    torch.testing.assert_close(observed, expected, atol=0.03, rtol=0)


def test_top_p_sampling_support() -> None:
    """5000 draws with top_p only ever give the nucleus ids (computed by hand from sorted probabilities)."""
    logits = torch.randn(V) * 1.5
    probs, order = torch.softmax(logits, -1).sort(descending=True)
    top_p = float(probs[:3].sum() + probs[3] / 2)  # strictly inside the 4th token: nucleus of 4
    nucleus = set(order[:4].tolist())
    draws = sample_next(logits.expand(5000, V), top_p=top_p, generator=torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == nucleus


def test_temperature_sharpens_distribution() -> None:
    """Lower temperature puts more mass on the argmax: frequency of the top id rises as temperature falls."""
    logits = torch.tensor([1.0, 0.5, 0.0, -0.5])
    rows = logits.expand(4000, 4)
    freq = {}
    for t in (2.0, 1.0, 0.25):
        draws = sample_next(rows, temperature=t, generator=torch.Generator().manual_seed(0))
        freq[t] = (draws == 0).float().mean().item()
    p_top = math.exp(4.0) / sum(math.exp(4 * x) for x in (1.0, 0.5, 0.0, -0.5))
    assert freq[2.0] < freq[1.0] < freq[0.25]
    assert abs(freq[0.25] - p_top) < 0.03


# ---- generate ------------------------------------------------------------------------------------
def test_generate_greedy_equals_hand_loop() -> None:
    """generate with temperature 0 (state carried step by step) equals re-reading the whole prefix from
    scratch and taking the argmax at each step."""
    lm = _tiny_lm()
    prompt = torch.randint(V, (3, 5))
    out = generate(lm, prompt, max_new_tokens=12, temperature=0.0)
    assert out.shape == (3, 12)
    seq = prompt.clone()
    with torch.no_grad():
        for _ in range(12):
            logits, _ = lm(seq)
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, seq[:, 5:])


def test_generate_seeded_generator_reproducible() -> None:
    """The same seeded generator gives identical samples; different seeds give different ones."""
    lm = _tiny_lm()
    prompt = torch.randint(V, (4, 3))

    def run(seed: int) -> torch.Tensor:
        return generate(
            lm, prompt, 30, temperature=1.0, top_k=8, generator=torch.Generator().manual_seed(seed)
        )

    a, b, c = run(123), run(123), run(124)
    assert a.shape == (4, 30) and a.dtype == torch.long
    assert ((a >= 0) & (a < V)).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generate_zero_new_tokens_and_empty_prompt() -> None:
    """max_new_tokens=0 returns a [B, 0] tensor; an empty prompt raises ValueError."""
    lm = _tiny_lm()
    assert generate(lm, torch.randint(V, (2, 3)), 0).shape == (2, 0)
    with pytest.raises(ValueError, match="at least one token"):
        generate(lm, torch.zeros(2, 0, dtype=torch.long), 5)
