"""BLEU and chrF through sacrebleu: per-item references transposed into streams, ragged counts padded."""

from __future__ import annotations

import pytest
import sacrebleu

from seqlab.metrics.translation import CorpusScore, bleu, chrf, reference_streams

HYPOTHESES = [
    "The cat sat on the mat.",
    "A dog barked at the postman all morning.",
    "It is raining again today.",
]
# Two references per item, per item (not sacrebleu's streams).
REFERENCES = [
    ["The cat is sitting on the mat.", "A cat sat on the mat."],
    ["The dog barked at the mailman all morning long.", "A dog was barking at the postman."],
    ["Today it is raining again.", "It rains again today."],
]


def test_single_references_equal_sacrebleu() -> None:
    references = [refs[0] for refs in REFERENCES]
    score = bleu(HYPOTHESES, references)
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [references])
    assert isinstance(score, CorpusScore)
    assert score.score == pytest.approx(expected.score) and 0 < score.score < 100
    assert score.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert chrf(HYPOTHESES, references).score == pytest.approx(
        sacrebleu.corpus_chrf(HYPOTHESES, [references]).score
    )


def test_several_references_are_transposed_into_streams() -> None:
    streams = [[refs[0] for refs in REFERENCES], [refs[1] for refs in REFERENCES]]
    assert reference_streams(HYPOTHESES, REFERENCES) == streams
    score = bleu(HYPOTHESES, REFERENCES)
    assert score.score == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, streams).score)
    assert score.score > bleu(HYPOTHESES, [refs[0] for refs in REFERENCES]).score  # the second refs help
    assert score.signature.startswith("nrefs:2|")
    expected = sacrebleu.corpus_chrf(HYPOTHESES, streams)
    assert chrf(HYPOTHESES, REFERENCES).score == pytest.approx(expected.score)
    assert chrf(HYPOTHESES, REFERENCES, word_order=2).score == pytest.approx(
        sacrebleu.corpus_chrf(HYPOTHESES, streams, word_order=2).score
    )


def test_different_reference_counts_per_item() -> None:
    """Missing references are padded with None, which sacrebleu skips: the same score as repeating
    an item's own reference (a duplicate reference changes neither BLEU nor chrF)."""
    ragged = [REFERENCES[0], REFERENCES[1][:1], REFERENCES[2][1]]
    assert reference_streams(HYPOTHESES, ragged) == [
        [REFERENCES[0][0], REFERENCES[1][0], REFERENCES[2][1]],
        [REFERENCES[0][1], None, None],
    ]
    repeated = [
        [REFERENCES[0][0], REFERENCES[1][0], REFERENCES[2][1]],
        [REFERENCES[0][1], REFERENCES[1][0], REFERENCES[2][1]],
    ]
    score = bleu(HYPOTHESES, ragged)
    assert score.score == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, repeated).score)
    assert score.signature.startswith("nrefs:var|")
    assert chrf(HYPOTHESES, ragged).score == pytest.approx(sacrebleu.corpus_chrf(HYPOTHESES, repeated).score)


def test_perfect_match_is_100() -> None:
    assert bleu(HYPOTHESES, [[h, "something else entirely"] for h in HYPOTHESES]).score == pytest.approx(100)
    assert chrf(HYPOTHESES, HYPOTHESES).score == pytest.approx(100)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="3 hypotheses but references for 2 items"):
        bleu(HYPOTHESES, REFERENCES[:2])
    with pytest.raises(ValueError, match="item 1 has no references"):
        chrf(HYPOTHESES, [REFERENCES[0], [], REFERENCES[2]])
    with pytest.raises(ValueError, match="no hypotheses"):
        bleu([], [])
    with pytest.raises(TypeError, match="hypotheses must be strings"):
        bleu([["The", "cat"]], ["The cat"])  # type: ignore[list-item]
