"""Span metrics: hand-computed cases, seqeval's chunking quirks, and agreement with seqeval itself."""

from __future__ import annotations

import random
import warnings

import pytest
import torch
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

from seqlab.metrics import SpanCounts, extract_spans, span_types, tag_scheme, to_iob2

# --- tag_scheme -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "scheme"),
    [
        (["O", "B-PER", "I-PER", "B-LOC"], "BIO"),
        (["I-PER", "O"], "BIO"),
        (["B", "I", "O"], "BIO"),
        (["O", "B-PER", "I-PER", "E-PER", "S-LOC"], "BIOES"),
        (["S-LOC", "O"], "BIOES"),
        (["NOUN", "VERB", "ADJ", "X"], None),
        (["0", "1", "2", "C"], None),
        (["O"], None),
        ([], None),
        (["B-NP", "I-NP", "NOUN"], None),
        (["SCONJ", "O"], None),
    ],
)
def test_tag_scheme(tags: list[str], scheme: str | None) -> None:
    assert tag_scheme(tags) == scheme
    assert tag_scheme(iter(tags)) == scheme  # any iterable, e.g. a vocabulary's keys


def test_span_types() -> None:
    assert span_types(["O", "B-PER", "I-PER", "S-LOC", "E-ORG", "B-MISC"]) == ["LOC", "MISC", "ORG", "PER"]


# --- extract_spans ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),  # a lone I- at the start opens a span
        (["O", "I-LOC", "O", "I-LOC"], [("LOC", 1, 2), ("LOC", 3, 4)]),  # I- after O too
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),  # a type change ends and starts
        (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-ORG"], [("PER", 0, 1), ("LOC", 1, 4), ("ORG", 4, 5)]),
        (["B-X", "E-X", "E-X"], [("X", 0, 2), ("X", 2, 3)]),  # E- after E- is a new one-token span
        (["E-X", "I-X"], [("X", 0, 1), ("X", 1, 2)]),  # nothing continues past E-
        (["S-X", "I-X", "E-X"], [("X", 0, 1), ("X", 1, 3)]),  # nor past S-
        (["B-X", "S-X"], [("X", 0, 1), ("X", 1, 2)]),
        (["O", "O", "B-PER", "I-PER"], [("PER", 2, 4)]),  # a span that ends with the sentence
        (["O", "B-PER"], [("PER", 1, 2)]),
        (["B-A-B", "I-A-B"], [("A-B", 0, 2)]),  # the type is everything after the first "-"
        (["B", "I", "O", "I"], [("_", 0, 2), ("_", 3, 4)]),  # bare prefixes: seqeval's type "_"
        (["O", "O"], []),
        ([], []),
    ],
)
def test_extract_spans(tags: list[str], spans: list[tuple[str, int, int]]) -> None:
    assert extract_spans(tags) == spans
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert [(t, s, e + 1) for t, s, e in get_entities(tags)] == spans


def test_extract_spans_refuses_unprefixed_tags() -> None:
    for bad in (["B-PER", "PER"], ["NOUN"], ["O-PER"], ["BPER"], [""]):
        with pytest.raises(ValueError, match="not 'O' or a B-/I-/E-/S- tag"):
            extract_spans(bad)


# --- scores: hand-computed ----------------------------------------------------------------------------


def _scores(gold: list[list[str]], pred: list[list[str]]) -> dict:
    return SpanCounts.from_sequences(gold, pred).scores()


def test_scores_hand_computed() -> None:
    """PER right, LOC predicted as ORG: P = R = F1 = 1/2; per type PER 1, LOC and ORG 0."""
    s = _scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)
    assert s["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_scores_over_several_sentences() -> None:
    """Gold spans 4, predicted 3, correct 2: P = 2/3, R = 1/2, F1 = 2PR/(P+R) = 4/7."""
    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "S-ORG"], ["O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O"], ["B-LOC", "I-LOC", "O"], ["O", "B-PER"]]
    counts = SpanCounts.from_sequences(gold, pred)
    assert (counts.true_positives, counts.predicted, counts.gold) == (2, 3, 4)
    s = counts.scores()
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 0.5 and s["f1"] == pytest.approx(4 / 7)
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["per_type"]["ORG"]["support"] == 1 and s["per_type"]["PER"]["f1"] == 1.0


def test_lone_i_and_type_change_in_scores() -> None:
    """A prediction I-PER I-PER matches gold B-PER I-PER (same span); B-PER I-LOC gives two spans."""
    s = _scores([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])
    assert s["f1"] == 1.0
    s = _scores([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    s = _scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "I-LOC"]])  # I- after O: LOC (2, 3) is right
    assert s["f1"] == 1.0


def test_bioes_scores() -> None:
    gold = [["S-PER", "O", "B-LOC", "E-LOC", "S-ORG"]]
    pred = [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]  # LOC (2, 5) is wrong, ORG missed
    s = _scores(gold, pred)
    assert (s["precision"], s["recall"]) == (0.5, pytest.approx(1 / 3))
    assert s["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        ([["O", "O"]], [["B-PER", "O"]], (0.0, 0.0, 0.0)),  # no gold spans: recall 0 by convention
        ([["B-PER", "O"]], [["O", "O"]], (0.0, 0.0, 0.0)),  # no predicted spans: precision 0
        ([["O", "O"]], [["O", "O"]], (0.0, 0.0, 0.0)),  # nothing at all: all 0, as seqeval
        ([[]], [[]], (0.0, 0.0, 0.0)),
        ([["O", "B-PER"]], [["O", "B-PER"]], (1.0, 1.0, 1.0)),  # a span at the very end
    ],
)
def test_zero_denominators_follow_seqeval(
    gold: list[list[str]], pred: list[list[str]], expected: tuple[float, float, float]
) -> None:
    s = _scores(gold, pred)
    assert (s["precision"], s["recall"], s["f1"]) == expected
    assert _seqeval(gold, pred) == expected


def test_update_checks_lengths() -> None:
    with pytest.raises(ValueError, match="gold has 2 tags but prediction has 1"):
        SpanCounts().update(["O", "O"], ["O"])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        SpanCounts.from_sequences([["O"], ["O"]], [["O"]])


# --- merging and DDP tensors ----------------------------------------------------------------------------

GOLD = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "S-ORG"], ["O", "B-PER"], ["B-MISC", "E-MISC"]]
PRED = [["B-PER", "I-PER", "O"], ["B-LOC", "I-LOC", "O"], ["O", "B-LOC"], ["B-MISC", "E-MISC"]]


def test_merge_equals_counting_everything_at_once() -> None:
    whole = SpanCounts.from_sequences(GOLD, PRED)
    a, b = SpanCounts.from_sequences(GOLD[:2], PRED[:2]), SpanCounts.from_sequences(GOLD[2:], PRED[2:])
    assert a + b == whole and a.merge(b) == whole
    assert (a + b).scores() == whole.scores()
    assert a == SpanCounts.from_sequences(GOLD[:2], PRED[:2])  # merging leaves its inputs alone
    assert sum([a, b], SpanCounts()) == whole


def test_counts_tensor_round_trip_and_sum() -> None:
    """Summing the tensors of two ranks (as all_reduce does) gives the counts of all sentences."""
    types = span_types(["O", "B-PER", "I-PER", "B-LOC", "S-ORG", "B-MISC", "E-MISC", "B-DATE"])
    a, b = SpanCounts.from_sequences(GOLD[:2], PRED[:2]), SpanCounts.from_sequences(GOLD[2:], PRED[2:])
    ta, tb = a.counts_tensor(types), b.counts_tensor(types)
    assert ta.dtype == torch.int64 and ta.shape == (1 + len(types), 3)
    assert SpanCounts.from_tensor(ta, types) == a
    assert SpanCounts.from_tensor(ta + tb, types) == a + b
    micro = SpanCounts.from_tensor(a.counts_tensor() + b.counts_tensor())
    assert (micro.true_positives, micro.predicted, micro.gold) == (2, 4, 5)  # PER and MISC right
    assert micro.scores()["f1"] == (a + b).scores()["f1"] and micro.scores()["per_type"] == {}
    with pytest.raises(ValueError, match=r"expected a \(1, 3\) counts tensor"):
        SpanCounts.from_tensor(ta)
    with pytest.raises(ValueError, match=r"span types \['PER'\] were counted but are not in `types`"):
        a.counts_tensor(["LOC", "ORG"])


# --- agreement with seqeval on random sequences ------------------------------------------------------------


def _seqeval(gold: list[list[str]], pred: list[list[str]]) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on zero denominators
        return (
            float(precision_score(gold, pred)),
            float(recall_score(gold, pred)),
            float(f1_score(gold, pred)),
        )


def _random_tags(rng: random.Random, prefixes: str, length: int) -> list[str]:
    types = ["PER", "LOC", "ORG"]
    return [
        "O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(types)}" for _ in range(length)
    ]


def _perturb(rng: random.Random, tags: list[str], prefixes: str) -> list[str]:
    """A prediction: mostly the gold tags, some replaced, so that partial matches are common."""
    return [t if rng.random() < 0.7 else _random_tags(rng, prefixes, 1)[0] for t in tags]


@pytest.mark.parametrize("prefixes", ["BI", "BIES"])
def test_agrees_with_seqeval_on_random_sequences(prefixes: str) -> None:
    rng = random.Random(1234)
    for _ in range(300):
        gold = [_random_tags(rng, prefixes, rng.randint(0, 12)) for _ in range(rng.randint(1, 6))]
        pred = [_perturb(rng, tags, prefixes) for tags in gold]
        counts = SpanCounts.from_sequences(gold, pred)
        s = counts.scores()
        expected = _seqeval(gold, pred)
        assert (s["precision"], s["recall"], s["f1"]) == pytest.approx(expected, abs=1e-12, rel=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, r, f, support = precision_recall_fscore_support(gold, pred, average=None)
        assert list(s["per_type"]) == counts.types()
        for k, t in enumerate(counts.types()):
            got = s["per_type"][t]
            assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(
                (p[k], r[k], f[k]), abs=1e-12
            )
            assert got["support"] == support[k]
        for tags in gold + pred:
            assert extract_spans(tags) == [(t, a, b + 1) for t, a, b in get_entities(tags)]


def test_to_iob2_rewrites_span_starts_and_keeps_the_spans() -> None:
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG", "I-ORG", "I-LOC"]
    fixed = to_iob2(iob1)
    assert fixed == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG", "I-ORG", "B-LOC"]
    assert extract_spans(fixed) == extract_spans(iob1)
    assert to_iob2(fixed) == fixed
