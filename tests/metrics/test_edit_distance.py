"""Edit-distance metrics: closest reference, corpus-level PER/CER/WER, G2P word error, streaming counts."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.metrics.edit_distance import (
    EditCounts,
    character_error_rate,
    closest_reference_errors,
    item_error_rate,
    phoneme_error_rate,
    word_error_rate,
)

RECORD = [["R", "AH", "K", "AO", "R", "D"], ["R", "EH", "K", "ER", "D"], ["R", "IH", "K", "AO", "R", "D"]]


def test_closest_reference_is_chosen() -> None:
    # R EH K ER D: 0 edits to the second reference (4 to the first).
    assert closest_reference_errors(["R", "EH", "K", "ER", "D"], RECORD) == (0, 5)
    # R IH K ER D: 1 edit to the second (EH -> IH), 2 to the third (ER -> AO, insert R), 3 to the first.
    assert closest_reference_errors(["R", "IH", "K", "ER", "D"], RECORD) == (1, 5)
    assert closest_reference_errors(["R", "IH", "K", "ER", "D"], RECORD[::-1]) == (1, 5)
    # Only the third reference: ER -> AO and a missing R.
    assert closest_reference_errors(["R", "IH", "K", "ER", "D"], [RECORD[2]]) == (2, 6)


def test_ties_go_to_the_shorter_reference_whatever_the_order() -> None:
    """K AE T is 1 edit from K AE T S (length 4) and from B AE T (length 3): the shorter one counts."""
    references = [["K", "AE", "T", "S"], ["B", "AE", "T"]]
    assert closest_reference_errors(["K", "AE", "T"], references) == (1, 3)
    assert closest_reference_errors(["K", "AE", "T"], references[::-1]) == (1, 3)


def test_empty_hypothesis_and_bad_references() -> None:
    """An empty hypothesis is as many deletions as the shortest reference has tokens."""
    assert closest_reference_errors([], RECORD) == (5, 5)
    assert closest_reference_errors([], [[]]) == (0, 0)
    assert closest_reference_errors(["A"], [[]]) == (1, 0)
    with pytest.raises(ValueError, match="no references"):
        closest_reference_errors(["A"], [])
    assert phoneme_error_rate([[]], [RECORD]) == 1.0 and item_error_rate([""], [["R EH K ER D"]]) == 1.0


def test_per_is_total_edits_over_total_length_not_a_mean_of_ratios() -> None:
    """Item 1: "AH" for "AH B" is 1 edit / 2; item 2: exact on 8 phones. PER = 1/10, not (1/2 + 0)/2."""
    long = "S T R EH NG K TH S"
    per = phoneme_error_rate(["AH", long], [["AH B"], [long]])
    assert per == pytest.approx(1 / 10)
    assert per != pytest.approx((1 / 2 + 0 / 8) / 2)


def test_per_and_g2p_wer_with_several_references() -> None:
    """Strings are space-separated phones (as G2P targets are written), lists are taken as they are."""
    hypotheses = ["R IH K ER D", "DH IY", "K AE T"]
    references = [
        ["R AH K AO R D", "R EH K ER D", "R IH K AO R D"],  # closest: R EH K ER D, 1 edit of 5
        ["DH AH", "DH IY"],  # exact match with the second: 0 of 2
        ["K AE T S", "B AE T"],  # 1 edit, tie -> length 3
    ]
    assert phoneme_error_rate(hypotheses, references) == pytest.approx(2 / 10)
    as_lists = [[r.split() for r in refs] for refs in references]
    assert phoneme_error_rate([h.split() for h in hypotheses], as_lists) == pytest.approx(2 / 10)
    assert item_error_rate(hypotheses, references) == pytest.approx(2 / 3)
    assert item_error_rate(["R EH K ER D", "DH AH", "B AE T"], references) == 0.0
    with pytest.raises(ValueError, match="3 hypotheses but references for 2 items"):
        phoneme_error_rate(hypotheses, references[:2])


def test_cer_as_jiwer() -> None:
    """Item 1: "helo world" vs "hello world" is 1 deletion of 11 characters (the space counts);
    item 2: references and hypotheses are stripped, so "abd" vs "abc" is 1 of 3; inner spaces stay."""
    assert character_error_rate(["helo world"], ["hello world"]) == pytest.approx(1 / 11)
    assert character_error_rate(["helo world", "abd "], ["hello world", "  abc "]) == pytest.approx(2 / 14)
    assert character_error_rate(["a b"], ["a  b"]) == pytest.approx(1 / 4)
    assert character_error_rate([""], ["abc"]) == 1.0
    assert character_error_rate(["abcdef"], ["abc"]) == 1.0  # 3 insertions over 3 characters
    with pytest.raises(ValueError, match="reference 1 is empty"):
        character_error_rate(["a", "b"], ["a", " "])


def test_wer_text_as_jiwer() -> None:
    """1 insertion of 3 words and (substitution + deletion) of 4: 3/7 over the corpus (not the mean
    of 1/3 and 2/4); runs of whitespace separate words like one space."""
    hypotheses = ["the cat sat down", "a x  c"]
    references = ["the cat sat", "a b c d"]
    assert word_error_rate(hypotheses, references) == pytest.approx(3 / 7)
    assert word_error_rate(["the\tcat  sat "], [" the cat sat"]) == 0.0
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        word_error_rate(hypotheses, references[:1])


def test_streaming_counts_merge_and_tensor_round_trip() -> None:
    items = [
        (["R", "IH", "K", "ER", "D"], RECORD),
        (["DH", "IY"], [["DH", "AH"], ["DH", "IY"]]),
        ([], [["K", "AE", "T"]]),
    ]
    whole = EditCounts.from_items([h for h, _ in items], [r for _, r in items])
    assert whole == EditCounts(edits=1 + 0 + 3, reference_length=5 + 2 + 3, items=3, exact=1)
    assert whole.error_rate() == pytest.approx(4 / 10) and whole.item_error_rate() == pytest.approx(2 / 3)

    first, second = EditCounts(), EditCounts()
    first.update(*items[0])
    for hypothesis, references in items[1:]:
        second.update(hypothesis, references)
    assert first.merge(second) == first + second == whole
    assert first == EditCounts(1, 5, 1, 0)  # merge changes neither input

    summed = first.counts_tensor() + second.counts_tensor()  # what all_reduce(SUM) does across ranks
    assert summed.dtype == torch.int64 and summed.tolist() == [4, 10, 3, 1]
    assert EditCounts.from_tensor(summed) == whole
    with pytest.raises(ValueError, match=r"expected a \(4,\) counts tensor"):
        EditCounts.from_tensor(torch.zeros(2, 4, dtype=torch.int64))


def test_rates_without_items_or_reference_length() -> None:
    empty = EditCounts()
    assert empty.error_rate() == 0.0 and empty.item_error_rate() == 0.0
    assert EditCounts(edits=2, reference_length=0, items=1).error_rate() == math.inf
