"""Classification data: the word tokenizer, ClassificationData over local files, the built-in word
languages and a local Hugging Face dataset, and batching of encoded texts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.classification import ClassificationData, collate_texts, encode_text
from seqlab.data.sources.classification import ClassificationFiles, HubClassification, WordLanguages
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer
from seqlab.data.tokenizers.words import WordTokenizer
from tests.shared_data import shared_file

# --- WordTokenizer ---------------------------------------------------------------------------------


def test_word_vocab_ranks_by_frequency_ties_alphabetically_and_caps() -> None:
    """b x3, then a and c x2 (a first: ties alphabetical), then d x1; max_vocab=3 drops d."""
    tok = WordTokenizer(max_vocab=3).fit(["c b a", "b c d", "a b"])
    assert tok.vocab == ["<unk>", "b", "a", "c"]
    assert tok.vocab_size == 4 and tok.unk_id == 0
    assert tok.encode("d a zebra b").tolist() == [0, 2, 0, 1]
    assert tok.encode("a b").dtype == np.int32
    assert tok.detokenize([1, 3, 0]) == "b c <unk>"
    assert WordTokenizer(max_vocab=None).fit(["c b a", "b c d", "a b"]).vocab == ["<unk>", "b", "a", "c", "d"]


def test_word_min_freq() -> None:
    tok = WordTokenizer(min_freq=2).fit(["x y y z", "z y w"])
    assert tok.vocab == ["<unk>", "y", "z"]
    assert tok.encode("x w y").tolist() == [0, 0, 1]
    with pytest.raises(DataError, match=r"^min_freq 5: expected at most 1: no training word occurs 5 times"):
        WordTokenizer(min_freq=5).fit(["x y"])
    with pytest.raises(DataError, match="no words"):
        WordTokenizer().fit([" ", ""])


def test_word_lowercase_folds_in_training_and_lookup() -> None:
    tok = WordTokenizer(lowercase=True).fit(["The cat", "the CAT the"])
    assert tok.vocab == ["<unk>", "the", "cat"]
    assert tok.encode("THE Cat").tolist() == [1, 2]
    cased = WordTokenizer().fit(["The cat", "the CAT the"])
    assert cased.encode("THE Cat").tolist() == [0, 0]


def test_word_state_round_trip() -> None:
    tok = WordTokenizer(max_vocab=2, lowercase=True).fit(["A b a C", "c a"])
    state = tok.state_dict()
    assert state == {"type": "word", "vocab": ["<unk>", "a", "c"], "lowercase": True}
    again = tokenizer_from_state(state)
    assert isinstance(again, WordTokenizer)
    text = "A c B a"
    assert again.encode(text).tolist() == tok.encode(text).tolist() == [1, 2, 0, 1]
    assert again.fingerprint() == tok.fingerprint()
    assert again.fit(["completely different words"]).vocab == tok.vocab  # a fixed vocabulary is kept


def test_word_fit_tokens_keeps_tokens_with_spaces() -> None:
    tok = WordTokenizer().fit_tokens([["New York", "is", "big"], ["New York"]])
    assert tok.vocab == ["<unk>", "New York", "big", "is"]
    assert tok.encode_tokens(["New York", "is"]).tolist() == [1, 3]
    assert tok.encode("New York").tolist() == [0, 0]  # whitespace splitting cannot see it


def test_word_encode_before_fit_raises() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        WordTokenizer().encode("a")


# --- files -----------------------------------------------------------------------------------------

POSITIVE = ["a joy to watch", "wonderful and warm", "great fun", "i loved it", "a fine film"]
NEGATIVE = ["dull and slow", "a waste of time", "awful", "i hated it", "boring plot"]


def write(name: str, content: str) -> str:
    Path(name).write_text(content, encoding="utf-8")
    return name


def glue(name: str, rows: list[tuple[str, str]]) -> str:
    return write(name, "sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))


def sst_rows(n: int = 20) -> list[tuple[str, str]]:
    """n rows, alternating positive (1) and negative (0), each text unique."""
    rows = []
    for i in range(n):
        texts = POSITIVE if i % 2 == 0 else NEGATIVE
        rows.append((f"{texts[(i // 2) % len(texts)]} {i}", "1" if i % 2 == 0 else "0"))
    return rows


def files_data(**kwargs) -> ClassificationData:
    """GLUE-style train.tsv (20 rows) and dev.tsv (6 rows, reversed); a fresh tokenizer (see
    test_default_tokenizer_is_not_shared_between_datamodules for why not the default one)."""
    source = ClassificationFiles(glue("train.tsv", sst_rows()), glue("dev.tsv", sst_rows(6)[::-1]))
    kwargs.setdefault("tokenizer", CharTokenizer())
    return ClassificationData(source, **kwargs)


def test_glue_tsv_with_defaults() -> None:
    data = files_data(batch_size=4)
    assert data.labels == ["0", "1"]
    assert isinstance(data.tokenizer, CharTokenizer)
    assert set(data.splits) == {"train", "validation"}
    assert (len(data.splits["train"]), len(data.splits["validation"])) == (20, 6)
    ids, label, text = data.splits["validation"][0]
    assert text == "awful 5" and label == 0
    assert data.tokenizer.detokenize(ids) == text
    assert data.splits["validation"].lengths[0] == len(text)
    assert data.vocab_size == data.tokenizer.vocab_size
    assert data.label_counts() == [10, 10]


def test_csv_and_jsonl_sources() -> None:
    write("train.csv", 'text,label\n"good, really",pos\nbad,neg\n"fine",pos\n')
    write("dev.jsonl", json.dumps({"text": "worse", "label": "neg"}) + "\n")
    data = ClassificationData(ClassificationFiles("train.csv", "dev.jsonl"), WordTokenizer())
    assert data.labels == ["neg", "pos"]
    assert data.label_counts() == [1, 2]
    assert [label for _, label, _ in data.splits["train"].items] == [1, 0, 1]
    ids, label, text = data.splits["validation"][0]
    assert (ids.tolist(), label, text) == ([0], 0, "worse")


def test_validation_label_absent_from_train_names_file_and_line() -> None:
    glue("dev.tsv", [("fine", "1"), ("so so", "neutral"), ("bad", "0")])
    with pytest.raises(DataError, match=r"^dev\.tsv:3: label 'neutral' does not occur in the training"):
        ClassificationData(ClassificationFiles(glue("train.tsv", sst_rows()), "dev.tsv"), CharTokenizer())


def test_integer_labels_keep_numeric_order() -> None:
    rows = [(f"text {i}", str(label)) for i, label in enumerate([10, 2, 1, 2, 10, 1])]
    data = ClassificationData(
        ClassificationFiles(glue("train.tsv", rows), glue("dev.tsv", rows[:2])), CharTokenizer()
    )
    assert data.labels == ["1", "2", "10"]
    assert [label for _, label, _ in data.splits["validation"].items] == [2, 1]


def test_holdout_without_validation_file_is_disjoint_and_deterministic() -> None:
    glue("train.tsv", sst_rows(60))

    def split(seed: int = 0) -> tuple[list[str], list[str]]:
        data = ClassificationData(
            ClassificationFiles("train.tsv", validation_fraction=0.25, seed=seed), CharTokenizer()
        )
        return [t for _, _, t in data.splits["train"].items], [
            t for _, _, t in data.splits["validation"].items
        ]

    train, validation = split()
    assert not set(train) & set(validation)
    assert sorted(train + validation) == sorted(t for t, _ in sst_rows(60))
    assert 5 <= len(validation) <= 25
    assert split() == (train, validation)
    assert split(seed=1) != (train, validation)


def test_holdout_leaving_one_side_empty_is_a_data_error() -> None:
    with pytest.raises(DataError, match="left one side empty"):
        ClassificationData(
            ClassificationFiles(glue("train.tsv", sst_rows(2)), validation_fraction=0.01), CharTokenizer()
        )


def test_word_tokenizer_data() -> None:
    data = files_data(tokenizer=WordTokenizer(lowercase=True))
    assert data.vocab_size == data.tokenizer.vocab_size
    assert "joy" in data.tokenizer.vocab and data.tokenizer.vocab[0] == "<unk>"
    ids, _, text = data.splits["train"][0]
    assert text == "a joy to watch 0"
    assert len(ids) == 5 and data.tokenizer.detokenize(ids) == text


def test_sentencepiece_tokenizer_data() -> None:
    """A small sentencepiece vocabulary (byte fallback needs 256 byte pieces plus the characters)."""
    data = files_data(tokenizer=SentencePieceTokenizer(vocab_size=300))
    assert 256 < data.vocab_size <= 300
    for ids, _, text in data.splits["train"].items:
        assert data.tokenizer.detokenize(ids) == text
    assert any(len(ids) < len(text) for ids, _, text in data.splits["train"].items)
    assert list(Path("cache/sentencepiece").glob("*.model"))  # trained into $SEQLAB_CACHE


def test_sentencepiece_vocabulary_below_the_byte_pieces_is_a_data_error() -> None:
    """With byte fallback every model holds 256 byte pieces, so vocab_size=40 cannot be met (a
    DataError naming the key and the size needed, not a crash); hard_vocab_limit=False only forgives
    sizes the data cannot fill."""
    with pytest.raises(DataError, match=r"^data\.tokenizer\.vocab_size 40: expected at least 2\d\d \("):
        files_data(tokenizer=SentencePieceTokenizer(vocab_size=40))


def test_max_length_cuts_tokens_but_keeps_texts() -> None:
    data = files_data(max_length=6)
    items = data.splits["train"].items
    assert max(len(ids) for ids, _, _ in items) == 6
    assert max(data.splits["train"].lengths) == 6
    ids, _, text = items[0]
    assert data.tokenizer.detokenize(ids) == text[:6] and text == "a joy to watch 0"
    assert max(len(ids) for ids, _, _ in files_data().splits["train"].items) > 6
    assert data.state_dict()["max_length"] == 6


def test_whitespace_only_text_names_the_line() -> None:
    write("train.csv", "text,label\ngood,pos\n   ,neg\nbad,neg\n")
    with pytest.raises(DataError, match=r"^train\.csv:3: "):
        ClassificationData(ClassificationFiles("train.csv", validation_fraction=0.5), WordTokenizer())


def test_encode_text_without_tokens_names_where() -> None:
    tok = WordTokenizer().fit(["a b"])
    assert encode_text(tok, "b a", "x:1").tolist() == [2, 1]
    with pytest.raises(DataError, match=r"^in\.txt:4: the text ' \\t ' has no tokens"):
        encode_text(tok, " \t ", "in.txt:4")


def test_training_example_without_label_is_refused() -> None:
    class Unlabelled(ClassificationFiles):
        def load(self):
            splits = super().load()
            splits["train"][1] = type(splits["train"][1])("text", None, "train.tsv:3")
            return splits

    with pytest.raises(DataError, match=r"^train\.tsv:3: training examples need a label"):
        ClassificationData(
            Unlabelled(glue("train.tsv", sst_rows()), glue("dev.tsv", sst_rows(4))), CharTokenizer()
        )


def test_state_dict_round_trip_and_mismatch() -> None:
    data = files_data()
    state = data.state_dict()
    assert state["labels"] == ["0", "1"] and state["tokenizer"]["type"] == "char"
    files_data().load_state_dict(state)  # the same configuration matches

    other = ClassificationData(
        ClassificationFiles(
            glue("other.tsv", [("zzz", "0"), ("qqq", "1")] * 3), glue("dev.tsv", sst_rows(4))
        ),
        CharTokenizer(),
    )
    with pytest.raises(ValueError, match="different tokenizer or label set"):
        other.load_state_dict(state)
    relabelled = ClassificationData(
        ClassificationFiles(
            glue("relabelled.tsv", [(t, "pos" if lab == "1" else "neg") for t, lab in sst_rows()])
        ),
        CharTokenizer(),
    )
    with pytest.raises(ValueError, match="different tokenizer or label set"):
        relabelled.load_state_dict({**relabelled.state_dict(), "labels": ["0", "1"]})


def test_default_tokenizer_is_not_shared_between_datamodules(monkeypatch) -> None:
    # Work on a copy of the defaults, so that this test cannot leave a fitted default behind.
    init = ClassificationData.__init__
    monkeypatch.setattr(init, "__defaults__", copy.deepcopy(init.__defaults__))
    first = ClassificationData(ClassificationFiles(glue("a.tsv", [("ab", "0"), ("cd", "1")] * 2), "a.tsv"))
    second = ClassificationData(ClassificationFiles(glue("b.tsv", [("xy", "0"), ("zw", "1")] * 2), "b.tsv"))
    assert first.tokenizer.token_strings() == ["<unk>", "a", "b", "c", "d"]
    assert second.tokenizer.token_strings() == ["<unk>", "w", "x", "y", "z"]
    assert second.splits["train"][0][0].tolist() == [2, 3]


# --- batches ---------------------------------------------------------------------------------------


def test_collate_texts_shapes() -> None:
    items = [
        (np.array([4, 5, 6], dtype=np.int32), 1, "abc"),
        (np.array([7], dtype=np.int32), 0, "d"),
    ]
    batch = collate_texts(items)
    assert batch["ids"].tolist() == [[4, 5, 6], [7, 0, 0]]
    assert batch["ids"].dtype == torch.long
    assert batch["lengths"].tolist() == [3, 1]
    assert batch["labels"].tolist() == [1, 0]
    assert batch["texts"] == ["abc", "d"]
    assert collate_texts([(np.array([1]), None, "x"), (np.array([2, 3]), None, "yz")])["labels"] is None


def test_dataloaders_batch_every_example() -> None:
    data = files_data(batch_size=3, eval_batch_size=4)
    train = list(data.train_dataloader())
    assert len(train) == 7
    assert sorted(t for b in train for t in b["texts"]) == sorted(t for t, _ in sst_rows())
    for batch in train:
        assert batch["ids"].shape == (len(batch["texts"]), int(batch["lengths"].max()))
        assert batch["labels"].shape == (len(batch["texts"]),)
    validation = list(data.val_dataloader())
    assert [len(b["texts"]) for b in validation] == [4, 2]
    assert validation[0]["lengths"].tolist() == sorted(validation[0]["lengths"].tolist())
    with pytest.raises(DataError, match="no test split"):
        data.test_dataloader()


# --- built-in and Hugging Face sources -------------------------------------------------------------


def test_word_languages_source() -> None:
    data = ClassificationData(WordLanguages(words_per_language=300), CharTokenizer())
    assert len(data.labels) >= 10
    assert {"en", "de", "fr"} <= set(data.labels)
    assert set(data.splits) == {"train", "validation", "test"}
    assert all(count > 0 for count in data.label_counts())
    assert sum(data.label_counts()) == len(data.splits["train"])
    _, label, text = data.splits["test"][0]
    assert 0 <= label < len(data.labels) and text.strip() == text


def test_hub_classification_from_a_saved_dataset_directory() -> None:
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    rows = sst_rows(12)
    train = datasets.Dataset.from_dict(
        {"sentence": [t for t, _ in rows], "label": [int(lab) for _, lab in rows]}, features=features
    )
    validation = datasets.Dataset.from_dict(
        {"sentence": ["meh", "superb"], "label": [0, 1]}, features=features
    )
    datasets.DatasetDict({"train": train, "validation": validation}).save_to_disk("sst")

    data = ClassificationData(HubClassification("sst"), CharTokenizer())
    assert data.labels == ["negative", "positive"]
    assert data.label_counts() == [6, 6]
    assert [(label, text) for _, label, text in data.splits["validation"].items] == [
        (0, "meh"),
        (1, "superb"),
    ]

    held = ClassificationData(
        HubClassification("sst", validation_split=None, validation_fraction=0.3), CharTokenizer()
    )
    assert len(held.splits["train"]) + len(held.splits["validation"]) == 12


def test_clinc150_in_scope_setting_drops_the_oos_rows() -> None:
    """The real CLINC150 TSVs (``text intent domain``) read with ``label_column: intent`` and
    ``drop_labels: [oos]``: the in-scope split sizes of the data README and 150 intents; dropping
    every label of a file is an error naming the file and the key."""
    files = [str(shared_file(f"classification/{split}.tsv")) for split in ("train", "valid", "test")]
    splits = ClassificationFiles(*files, label_column="intent", drop_labels=["oos"]).load()
    assert {split: len(rows) for split, rows in splits.items()} == {
        "train": 15000,
        "validation": 3000,
        "test": 4500,
    }
    assert len({e.label for e in splits["train"]}) == 150 and "oos" not in {e.label for e in splits["test"]}
    Path("one.tsv").write_text("text\tintent\nhello\toos\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^one\.tsv: no examples left after dropping labels \['oos'\]"):
        ClassificationFiles("one.tsv", "one.tsv", label_column="intent", drop_labels=["oos"]).load()


# --- subword sampling ------------------------------------------------------------------------------


def epoch_ids(data: ClassificationData, epoch: int) -> dict[str, list[int]]:
    """Text -> the ids the training loader gives it in ``epoch`` (a fresh loader each call)."""
    loader = data.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    out = {}
    for batch in loader:
        for row, text in enumerate(batch["texts"]):
            out[text] = batch["ids"][row, : batch["lengths"][row]].tolist()
    return out


def test_subword_sampling_segments_training_texts_anew_each_epoch_and_reproducibly() -> None:
    """With ``sampling_alpha`` the training texts get a new segmentation every epoch, the same one
    from a fresh loader (as after a resume or in another process), each spelling its text; validation
    keeps the best segmentation; ``max_length`` cuts sampled segmentations too."""
    rows = [(f"{text} and then some more words {i}", label) for i, (text, label) in enumerate(sst_rows())]
    source = ClassificationFiles(glue("train.tsv", rows), glue("dev.tsv", rows[:6]))
    tokenizer = SentencePieceTokenizer(model_type="unigram", vocab_size=300, sampling_alpha=0.1)
    data = ClassificationData(source, tokenizer=tokenizer, batch_size=4, seed=3)
    zero, one = epoch_ids(data, 0), epoch_ids(data, 1)
    assert epoch_ids(data, 0) == zero and epoch_ids(data, 1) == one
    assert sorted(zero) == sorted(text for text, _ in rows)
    assert all(data.tokenizer.detokenize(ids) == text for text, ids in zero.items())
    assert sum(zero[text] != one[text] for text in zero) >= 5
    best = {text: data.tokenizer.encode(text).tolist() for text in zero}
    assert sum(zero[text] != best[text] for text in zero) >= 5
    for batch in data.val_dataloader():
        for row, text in enumerate(batch["texts"]):
            assert batch["ids"][row, : batch["lengths"][row]].tolist() == best[text]
    other_seed = ClassificationData(source, tokenizer=tokenizer, batch_size=4, seed=4)
    assert epoch_ids(other_seed, 0) != zero
    cut = ClassificationData(source, tokenizer=tokenizer, batch_size=4, seed=3, max_length=5)
    assert max(len(ids) for ids in epoch_ids(cut, 0).values()) == 5


def test_subword_sampling_is_refused_where_training_data_is_encoded_once() -> None:
    """Language models encode their training streams once: a sampling tokenizer there would be ignored
    without a word, so it is refused naming the key (transduction samples: test_transduction_sampling)."""
    from seqlab.data.modules.language_model import LanguageModelData

    sampling = SentencePieceTokenizer(sampling_alpha=0.2)
    with pytest.raises(
        DataError, match=r"^data\.tokenizer\.sampling_alpha 0\.2: expected null: only ClassificationData and"
    ):
        LanguageModelData(tokenizer=sampling)


def test_bad_sampling_setting_names_the_data_key() -> None:
    with pytest.raises(
        DataError, match=r"^data\.tokenizer\.sampling_alpha 0: expected a merge-dropout probability"
    ):
        files_data(tokenizer=SentencePieceTokenizer(vocab_size=300, sampling_alpha=0))
