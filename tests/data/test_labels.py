"""The label set of classification and labelling tasks: ordering, strict encoding, counts."""

from __future__ import annotations

import pytest

from seqlab.data.errors import DataError
from seqlab.data.modules.labels import LabelSet


def test_integer_labels_sort_numerically() -> None:
    """ "2" comes before "10" (not as strings), negative integers before positive ones."""
    labels = LabelSet.fit(["10", "2", "1", "10", "-3", "0", "2"]).labels
    assert labels == ["-3", "0", "1", "2", "10"]


def test_string_labels_sort_alphabetically_after_integers() -> None:
    assert LabelSet.fit(["positive", "negative", "neutral", "negative"]).labels == [
        "negative",
        "neutral",
        "positive",
    ]
    assert LabelSet.fit(["b", "10", "a", "9"]).labels == ["9", "10", "a", "b"]


def test_ids_follow_the_order_and_decode_inverts_encode() -> None:
    label_set = LabelSet.fit(["pos", "neg", "pos"])
    assert len(label_set) == 2
    assert [label_set.encode(x) for x in ("neg", "pos")] == [0, 1]
    assert [label_set.label(i) for i in range(2)] == ["neg", "pos"]
    assert "pos" in label_set and "neutral" not in label_set


@pytest.mark.parametrize("seen", [[], ["only"], ["same", "same", "same"]])
def test_fewer_than_two_labels_is_a_data_error(seen: list[str]) -> None:
    with pytest.raises(DataError, match=rf"{len(set(seen))} distinct tag"):
        LabelSet.fit(seen, what="tag")


def test_unseen_label_names_where_the_label_and_the_known_labels() -> None:
    label_set = LabelSet.fit(["neg", "pos"])
    with pytest.raises(DataError) as info:
        label_set.encode("neutral", "dev.tsv:7")
    message = str(info.value)
    assert message.startswith("dev.tsv:7: ")
    assert "'neutral'" in message
    assert "'neg'" in message and "'pos'" in message


def test_unseen_tag_message_uses_what() -> None:
    tag_set = LabelSet.fit(["NOUN", "VERB"], what="tag")
    with pytest.raises(
        DataError, match=r"^x\.conllu:3: tag 'ADJ' does not occur.*known tags: 'NOUN', 'VERB'"
    ):
        tag_set.encode("ADJ", "x.conllu:3")


def test_long_label_lists_are_shortened_in_messages() -> None:
    label_set = LabelSet.fit([f"L{i:02d}" for i in range(30)])
    with pytest.raises(DataError) as info:
        label_set.encode("other", "f:1")
    message = str(info.value)
    assert "'L19'" in message and "'L20'" not in message and "..." in message


def test_counts_in_id_order_with_zeros_and_unknown_labels_ignored() -> None:
    label_set = LabelSet.fit(["2", "10", "1"])
    assert label_set.counts(["10", "10", "2", "10", "unknown"]) == [0, 1, 3]


def test_duplicate_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        LabelSet(["a", "b", "a"])


@pytest.mark.parametrize("odd", ["--1", "²"])
def test_odd_digit_like_labels_sort_as_strings(odd: str) -> None:
    assert LabelSet.fit([odd, "1", "a"]).labels == ["1", *sorted([odd, "a"])]
