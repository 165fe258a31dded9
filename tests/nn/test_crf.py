"""LinearChainCRF against brute force over all K^T paths; constraints; scheme_constraints; float32."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqlab.nn import LinearChainCRF, lengths_to_mask, scheme_constraints

K = 3
LENGTHS = [4, 2, 1, 3]


def _random_crf(k: int = K) -> LinearChainCRF:
    """A CRF with parameters large enough that every term matters."""
    crf = LinearChainCRF(k)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1.0)
    return crf


def _path_score(crf: LinearChainCRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    """The score of one path of one (unpadded) sequence, summed by hand in float64."""
    e, tr, st, en = (x.double() for x in (emissions, crf.transitions, crf.start, crf.end))
    total = st[path[0]] + en[path[-1]] + sum(e[t, y] for t, y in enumerate(path))
    total += sum(tr[a, b] for a, b in itertools.pairwise(path))
    return float(total)


def _allowed_path(crf: LinearChainCRF, path: tuple[int, ...]) -> bool:
    return bool(
        crf.start_allowed[path[0]]
        and crf.end_allowed[path[-1]]
        and all(crf.allowed[a, b] for a, b in itertools.pairwise(path))
    )


def _brute_force(crf: LinearChainCRF, emissions: torch.Tensor, n: int) -> dict[tuple[int, ...], float]:
    """Scores of every allowed path of length ``n``."""
    paths = itertools.product(range(crf.num_tags), repeat=n)
    return {p: _path_score(crf, emissions[:n], p) for p in paths if _allowed_path(crf, p)}


def _batch(lengths: list[int] = LENGTHS, k: int = K) -> tuple[torch.Tensor, torch.Tensor]:
    lengths_t = torch.tensor(lengths)
    return torch.randn(len(lengths), max(lengths), k) * 2, lengths_to_mask(lengths_t)


def _bio_crf() -> LinearChainCRF:
    crf = _random_crf(3)
    crf.constrain(*scheme_constraints(["O", "B-X", "I-X"]))
    return crf


# ---- against brute force -------------------------------------------------------------------------
@pytest.mark.parametrize("make", [_random_crf, _bio_crf], ids=["free", "constrained"])
def test_log_partition_is_logsumexp_over_all_paths(make) -> None:
    """Over the allowed paths only, when constrained (forbidden paths contribute nothing)."""
    crf = make()
    emissions, mask = _batch()
    log_z = crf.log_partition(emissions, mask)
    assert log_z.shape == (len(LENGTHS),) and log_z.dtype == torch.float32
    for b, n in enumerate(LENGTHS):
        scores = torch.tensor(list(_brute_force(crf, emissions[b], n).values()), dtype=torch.float64)
        torch.testing.assert_close(log_z[b].double(), scores.logsumexp(0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pad", [-100, 0, 2])
def test_score_is_the_hand_sum_and_ignores_padded_tags(pad: int) -> None:
    crf = _random_crf()
    emissions, mask = _batch()
    tags = torch.randint(K, mask.shape).masked_fill(~mask, pad)
    score = crf.score(emissions, tags, mask)
    for b, n in enumerate(LENGTHS):
        expected = _path_score(crf, emissions[b, :n], tuple(tags[b, :n].tolist()))
        assert score[b].item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("make", [_random_crf, _bio_crf], ids=["free", "constrained"])
def test_viterbi_is_the_brute_force_argmax(make) -> None:
    crf = make()
    emissions, mask = _batch()
    paths, scores = crf.viterbi(emissions, mask)
    assert [len(p) for p in paths] == LENGTHS
    assert scores.dtype == torch.float32
    for b, n in enumerate(LENGTHS):
        candidates = _brute_force(crf, emissions[b], n)
        best = max(candidates, key=candidates.__getitem__)
        assert tuple(paths[b]) == best
        assert scores[b].item() == pytest.approx(candidates[best], abs=1e-5)
        assert crf.score(emissions[b : b + 1], torch.tensor([paths[b]]), mask[b : b + 1, :n]).item() == (
            pytest.approx(scores[b].item(), abs=1e-5)
        )


def test_nll_is_non_negative_with_finite_gradients() -> None:
    crf = _bio_crf()
    emissions, mask = _batch([5, 3, 1, 4, 2])
    emissions.requires_grad_(True)
    tags = torch.randint(3, mask.shape).masked_fill(~mask, -100)
    tags[0] = torch.tensor([0, 1, 2, 2, 0])  # an allowed gold path...
    tags[1, :3] = torch.tensor([0, 2, 1])  # ...and a forbidden one (O -> I-X): a huge but finite loss
    nll = crf.nll(emissions, tags, mask)
    assert (nll >= -1e-4).all()
    assert nll[0] < 100 < 1e3 < nll[1] < 1e5
    nll.sum().backward()
    for grad in (emissions.grad, crf.transitions.grad, crf.start.grad, crf.end.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert (emissions.grad[~mask] == 0).all()  # padding emissions play no part


# ---- constraints ---------------------------------------------------------------------------------
def test_viterbi_never_emits_a_forbidden_transition() -> None:
    """Random emissions that strongly prefer invalid BIOES sequences still decode to valid ones."""
    tags = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
    crf = _random_crf(len(tags))
    crf.constrain(*scheme_constraints(tags))
    lengths = [1, 2, 5, 8, 8, 3, 6, 7] * 4
    emissions, mask = _batch(lengths, len(tags))
    emissions *= 5
    emissions[..., 2] += 3.0  # I-X is the favourite everywhere, including the first and last position
    free, _ = LinearChainCRF.viterbi(_copy_unconstrained(crf), emissions, mask)
    assert not all(_allowed_path(crf, tuple(p)) for p in free)  # the constraints have work to do
    paths, scores = crf.viterbi(emissions, mask)
    assert torch.isfinite(scores).all() and (scores > -1e3).all()
    for path, n in zip(paths, lengths, strict=True):
        assert len(path) == n and _allowed_path(crf, tuple(path)), [tags[i] for i in path]


def _copy_unconstrained(crf: LinearChainCRF) -> LinearChainCRF:
    free = LinearChainCRF(crf.num_tags)
    free.load_state_dict({k: v for k, v in crf.state_dict().items() if "allowed" not in k}, strict=False)
    return free


def test_constraints_travel_with_the_state_dict() -> None:
    crf = _bio_crf()
    restored = LinearChainCRF(3)
    restored.load_state_dict(crf.state_dict())
    assert not restored.allowed[0, 2] and not restored.start_allowed[2]
    emissions, mask = _batch()
    torch.testing.assert_close(restored.log_partition(emissions, mask), crf.log_partition(emissions, mask))


def _grid(rows: str) -> torch.Tensor:
    return torch.tensor([[c == "1" for c in row.split()] for row in rows.strip().splitlines()])


def test_scheme_constraints_bio() -> None:
    allowed, start, end = scheme_constraints(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    expected = _grid(  # rows: from, columns: to (O B-PER I-PER B-LOC I-LOC)
        """
        1 1 0 1 0
        1 1 1 1 0
        1 1 1 1 0
        1 1 0 1 1
        1 1 0 1 1
        """
    )
    assert torch.equal(allowed, expected)
    assert start.tolist() == [True, True, False, True, False]
    assert end.all()


def test_scheme_constraints_bioes() -> None:
    allowed, start, end = scheme_constraints(["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"])
    expected = _grid(  # rows: from, columns: to (O B-X I-X E-X S-X B-Y E-Y)
        """
        1 1 0 0 1 1 0
        0 0 1 1 0 0 0
        0 0 1 1 0 0 0
        1 1 0 0 1 1 0
        1 1 0 0 1 1 0
        0 0 0 0 0 0 1
        1 1 0 0 1 1 0
        """
    )
    assert torch.equal(allowed, expected)
    assert start.tolist() == [True, True, False, False, True, True, False]
    assert end.tolist() == [True, False, False, True, True, False, True]


def test_scheme_constraints_without_prefixes_allow_everything() -> None:
    allowed, start, end = scheme_constraints(["NOUN", "VERB", "DET", "O"])
    assert allowed.shape == (4, 4) and allowed.all() and start.all() and end.all()


def test_constrain_checks_shapes() -> None:
    with pytest.raises(ValueError, match="constraints"):
        LinearChainCRF(4).constrain(*scheme_constraints(["O", "B-X", "I-X"]))


# ---- precision -----------------------------------------------------------------------------------
def test_crf_math_is_float32_under_bfloat16_autocast() -> None:
    crf = _bio_crf()
    layer = torch.nn.Linear(5, 3)
    features = torch.randn(4, 4, 5)
    mask = lengths_to_mask(torch.tensor(LENGTHS))
    tags = torch.randint(3, mask.shape).masked_fill(~mask, -100)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emissions = layer(features)
        assert emissions.dtype == torch.bfloat16  # autocast is really on
        log_z = crf.log_partition(emissions, mask)
        nll = crf.nll(emissions, tags, mask)
        paths, scores = crf.viterbi(emissions, mask)
    assert log_z.dtype == nll.dtype == scores.dtype == torch.float32
    # identical to float32 math on the same (bfloat16-rounded) emissions outside autocast
    exact = emissions.float()
    torch.testing.assert_close(log_z, crf.log_partition(exact, mask), atol=0, rtol=0)
    torch.testing.assert_close(nll, crf.nll(exact, tags, mask), atol=0, rtol=0)
    assert paths == crf.viterbi(exact, mask)[0]


def test_bfloat16_parameters_are_computed_in_float32() -> None:
    """A CRF cast to bfloat16 (true-half-precision training) still sums in float32."""
    crf = _bio_crf()
    half = _bio_crf().to(torch.bfloat16)
    half.load_state_dict(crf.state_dict())
    with torch.no_grad():
        for p in crf.parameters():  # the float32 reference sees the same rounded values
            p.copy_(p.to(torch.bfloat16).float())
    emissions, mask = _batch([6, 5, 6])
    emissions = emissions.to(torch.bfloat16)
    log_z = half.log_partition(emissions, mask)
    assert log_z.dtype == torch.float32
    torch.testing.assert_close(log_z, crf.log_partition(emissions.float(), mask), atol=0, rtol=0)
