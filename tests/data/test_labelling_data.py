"""Labelling data: LabellingData over CoNLL-2003-style and CoNLL-U files, the built-in stress task, and
batching of tagged sentences."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.labelling import LabellingData, collate_sentences, encode_sentence
from seqlab.data.sources.labelling import CmudictStress, LabelledFiles
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.words import WordTokenizer
from seqlab.nn.tagger import IGNORE_INDEX, UNSEEN_TAG
from tests.shared_data import shared_file

CONLL_TRAIN = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""
CONLL_DEV = """Germany NNP B-NP B-LOC
rejects VBZ B-VP O
EU NNP B-NP B-ORG
"""


def word(word_id: str, form: str, upos: str) -> str:
    return "\t".join([word_id, form, form.lower(), upos, "_", "_", "0", "root", "_", "_"]) + "\n"


CONLLU_TRAIN = (
    "# sent_id = 1\n"
    + word("1", "Vengo", "VERB")
    + "2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n"
    + word("2", "de", "ADP")
    + word("3", "el", "DET")
    + word("4", "mercado", "NOUN")
    + "\n"
    + word("1", "Come", "VERB")
    + word("2", "pan", "NOUN")
    + "\n"
)
CONLLU_DEV = word("1", "Come", "VERB") + word("2", "el", "DET") + word("3", "pan", "NOUN") + "\n"


def write(name: str, content: str) -> str:
    Path(name).write_text(content, encoding="utf-8")
    return name


def conll_data(**kwargs) -> LabellingData:
    source = LabelledFiles(write("train.conll", CONLL_TRAIN), write("dev.conll", CONLL_DEV), format="conll")
    kwargs.setdefault("words", WordTokenizer())
    return LabellingData(source, **kwargs)


def test_conll2003_vocabularies_and_tags_from_train() -> None:
    data = conll_data()
    assert data.labels == ["B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER", "O"]
    train_words = {"EU", "rejects", "German", "call", ".", "Peter", "Blackburn", "BRUSSELS", "1996-08-22"}
    assert data.vocab_size == len(train_words) + 1 == data.words.vocab_size
    assert data.tokenizer is data.words
    train_chars = set("".join(train_words))
    assert data.char_vocab_size == len(train_chars) + 1
    assert len(data.splits["train"]) == 3 and len(data.splits["validation"]) == 1
    words, chars, tags, tokens = data.splits["validation"][0]
    assert tokens == ["Germany", "rejects", "EU"]
    assert words[0] == 0 and words[1] != 0 and words[2] != 0  # "Germany" was not in training
    assert [data.labels[t] for t in tags] == ["B-LOC", "O", "B-ORG"]
    assert chars is not None and [len(c) for c in chars] == [7, 7, 2]
    assert data.chars is not None and data.chars.detokenize(chars[2]) == "EU"
    assert data.splits["validation"].lengths == [3]


def test_characters_false_has_no_character_vocabulary() -> None:
    data = conll_data(characters=False)
    assert data.char_vocab_size == 0 and data.chars is None
    _, chars, _, _ = data.splits["train"][0]
    assert chars is None
    batch = collate_sentences(data.splits["train"].items)
    assert batch["chars"] is None and batch["char_lengths"] is None
    assert data.state_dict()["chars"] is None


def test_max_word_length_cuts_characters() -> None:
    data = conll_data(max_word_length=3)
    _, chars, _, tokens = data.splits["train"][1]
    assert tokens == ["Peter", "Blackburn"] and [len(c) for c in chars] == [3, 3]


def test_unseen_tag_in_validation_is_kept_as_unseen_and_said_once(caplog) -> None:
    """A validation tag training never had (B-EVENT, on dev.conll:4) does not refuse the data: it is
    encoded as UNSEEN_TAG (scored as wrong later) and the one data summary names it, its count and
    the line of its first token."""
    write("train.conll", CONLL_TRAIN)
    write(
        "dev.conll", "Paris NNP B-NP B-LOC\n\nSome DT B-NP O\nevent NN I-NP B-EVENT\nmore NN I-NP B-EVENT\n"
    )
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.utilities.rank_zero"):
        data = LabellingData(LabelledFiles("train.conll", "dev.conll"), WordTokenizer())
    _, _, tags, _ = data.splits["validation"][1]
    assert tags.tolist() == [data.labels.index("O"), UNSEEN_TAG, UNSEEN_TAG]
    (summary,) = [r.getMessage() for r in caplog.records if " data: " in r.getMessage()]
    assert (
        "validation: 2 tokens tagged 'B-EVENT' (first at dev.conll:4), a tag training never had: "
        "scored as wrong" in summary
    )


def test_atis_dev_sym_tag_unseen_in_training_is_reported(caplog) -> None:
    """The real UD English-ATIS files: dev has a SYM tag train lacks; the data builds and says so."""
    source = LabelledFiles(
        str(shared_file("pos/en_atis-ud-train.conllu")), str(shared_file("pos/en_atis-ud-dev.conllu"))
    )
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.utilities.rank_zero"):
        data = LabellingData(source, WordTokenizer(lowercase=True), batch_size=64)
    assert "SYM" not in data.labels and len(data.splits["validation"]) == 572
    assert set(data.unseen_tags["validation"]) == {"SYM"}
    assert any("tagged 'SYM' (first at " in r.getMessage() for r in caplog.records)


def test_conllu_words_upos_and_multiword_tokens() -> None:
    source = LabelledFiles(write("train.conllu", CONLLU_TRAIN), write("dev.conllu", CONLLU_DEV))
    data = LabellingData(source, WordTokenizer(lowercase=True))
    assert data.labels == ["ADP", "DET", "NOUN", "VERB"]
    assert data.words.vocab == ["<unk>", "come", "de", "el", "mercado", "pan", "vengo"]
    words, _, tags, tokens = data.splits["train"][0]
    assert tokens == ["Vengo", "de", "el", "mercado"]  # not the multiword token "del"
    assert words.tolist() == [6, 2, 3, 4]
    assert [data.labels[t] for t in tags] == ["VERB", "ADP", "DET", "NOUN"]
    assert data.splits["validation"][0][0].tolist() == [1, 3, 5]

    xpos = LabelledFiles("train.conllu", "dev.conllu", tag_field="xpos")
    with pytest.raises(DataError, match=r"^train\.conllu:2: no XPOS tag"):
        LabellingData(xpos, WordTokenizer())


def test_holdout_and_min_freq() -> None:
    sentences = "".join(f"w{i} X\nshared Y\n\n" for i in range(40))
    data = LabellingData(
        LabelledFiles(write("train.conll", sentences), validation_fraction=0.25), WordTokenizer(min_freq=2)
    )
    train = {s[3][0] for s in data.splits["train"].items}
    validation = {s[3][0] for s in data.splits["validation"].items}
    assert not train & validation and len(train | validation) == 40
    assert data.words.vocab == ["<unk>", "shared"]


def test_state_dict_mismatch_raises() -> None:
    data = conll_data()
    conll_data().load_state_dict(data.state_dict())
    with pytest.raises(ValueError, match="different vocabularies or tags"):
        conll_data(characters=False).load_state_dict(data.state_dict())
    with pytest.raises(ValueError, match="different vocabularies or tags"):
        conll_data(max_word_length=5).load_state_dict(data.state_dict())


def test_default_word_vocabulary_is_not_shared_between_datamodules(monkeypatch) -> None:
    # Work on a copy of the defaults, so that this test cannot leave a fitted default behind.
    init = LabellingData.__init__
    monkeypatch.setattr(init, "__defaults__", copy.deepcopy(init.__defaults__))
    first = LabellingData(LabelledFiles(write("a.conll", "a X\nb Y\n\nb X\na Y\n"), "a.conll"))
    second = LabellingData(LabelledFiles(write("b.conll", "c X\nd Y\n\nd X\nc Y\n"), "b.conll"))
    assert first.words.vocab == ["<unk>", "a", "b"]
    assert second.words.vocab == ["<unk>", "c", "d"]


def test_collate_sentences_pads_words_chars_and_tags() -> None:
    words = WordTokenizer().fit_tokens([["the", "cat", "sat"]])
    chars = CharTokenizer().fit(["the", "cat", "sat"])
    items = []
    for tokens, tags in ((["the", "cat", "sat"], [0, 1, 2]), (["cat"], [1])):
        word_ids, char_ids = encode_sentence(words, chars, tokens, max_word_length=30)
        items.append((word_ids, char_ids, np.array(tags), tokens))
    batch = collate_sentences(items)
    assert batch["words"].shape == (2, 3) and batch["words"][1].tolist() == [words.encode("cat")[0], 0, 0]
    assert batch["lengths"].tolist() == [3, 1]
    assert batch["chars"].shape == (2, 3, 3) and batch["chars"].dtype == torch.long
    assert batch["char_lengths"].tolist() == [[3, 3, 3], [3, 0, 0]]
    assert batch["chars"][1, 1:].abs().sum() == 0
    assert batch["chars"][0, 2].tolist() == chars.encode("sat").tolist()
    assert batch["tags"].tolist() == [[0, 1, 2], [1, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch["tokens"] == [["the", "cat", "sat"], ["cat"]]

    untagged = collate_sentences([(w, c, None, t) for w, c, _, t in items])
    assert untagged["tags"] is None and untagged["chars"].shape == (2, 3, 3)


def test_dataloaders() -> None:
    data = conll_data(batch_size=2)
    train = list(data.train_dataloader())
    assert sum(len(b["tokens"]) for b in train) == 3 and len(train) == 2
    for batch in train:
        assert batch["tags"].shape == batch["words"].shape
        assert batch["chars"].shape[:2] == batch["words"].shape
    (validation,) = list(data.val_dataloader())
    assert validation["tokens"] == [["Germany", "rejects", "EU"]]


def test_cmudict_stress() -> None:
    data = LabellingData(CmudictStress(max_words=300), WordTokenizer(), characters=False)
    assert set(data.labels) <= {"0", "1", "2", "C"} and {"0", "1", "C"} <= set(data.labels)
    assert set(data.splits) == {"train", "validation", "test"}
    assert data.char_vocab_size == 0
    assert 10 < data.vocab_size <= 40  # ARPAbet phones without stress digits, plus unknown
    _, _, tags, tokens = data.splits["train"][0]
    assert len(tags) == len(tokens) and all(not any(ch.isdigit() for ch in t) for t in tokens)
