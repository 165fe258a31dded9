"""Token-labelling data: CoNLL-U, CoNLL column files and raw text, and writers back into each format."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from seqlab.data.errors import DataError
from seqlab.data.examples import LabelledSentence
from seqlab.data.formats.conll import (
    detect_format,
    read_conll,
    read_conllu,
    read_token_lines,
    write_conll,
    write_conllu,
)
from tests.shared_data import shared_file


def write(name: str, content: str | bytes) -> Path:
    """Write ``content`` to ``name`` in the test's own directory (the autouse fixture chdirs there)."""
    path = Path(name)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def row(*fields: str) -> str:
    return "\t".join(fields) + "\n"


def word(word_id: str, form: str, upos: str = "NOUN", xpos: str = "_") -> str:
    """A minimal CoNLL-U line: ID, FORM (= LEMMA), UPOS, XPOS; the rest filled in."""
    return row(word_id, form, form, upos, xpos, "_", "0", "root", "_", "_")


# Two sentences in the style of UD Spanish-AnCora: a multiword token ("del" = "de" + "el"), an empty
# node (5.1, the elided verb), document and sentence comments, a blank line after each sentence.
SPANISH = (
    "# newdoc id = es-test-001\n"
    "# sent_id = es-test-001-s1\n"
    "# text = Vengo del mercado.\n"
    + row(
        "1",
        "Vengo",
        "venir",
        "VERB",
        "vmip1s0",
        "Mood=Ind|Number=Sing|Person=1|Tense=Pres",
        "0",
        "root",
        "0:root",
        "_",
    )
    + row("2-3", "del", "_", "_", "_", "_", "_", "_", "_", "_")
    + row("2", "de", "de", "ADP", "spcms", "AdpType=Prep", "4", "case", "4:case", "_")
    + row("3", "el", "el", "DET", "da0ms0", "Definite=Def|PronType=Art", "4", "det", "4:det", "_")
    + row("4", "mercado", "mercado", "NOUN", "ncms000", "Gender=Masc", "1", "obl", "1:obl", "SpaceAfter=No")
    + row("5", ".", ".", "PUNCT", "fp", "PunctType=Peri", "1", "punct", "1:punct", "_")
    + "\n"
    "# sent_id = es-test-001-s2\n"
    "# text = Juan come pan y María fruta.\n"
    + row("1", "Juan", "Juan", "PROPN", "np00000", "_", "2", "nsubj", "2:nsubj", "_")
    + row("2", "come", "comer", "VERB", "vmip3s0", "Mood=Ind", "0", "root", "0:root", "_")
    + row("3", "pan", "pan", "NOUN", "ncms000", "Gender=Masc", "2", "obj", "2:obj", "_")
    + row("4", "y", "y", "CCONJ", "cc", "_", "5", "cc", "5.1:cc", "_")
    + row("5", "María", "María", "PROPN", "np00000", "_", "6", "nsubj", "5.1:nsubj", "_")
    + row("5.1", "come", "comer", "VERB", "vmip3s0", "_", "_", "_", "2:conj", "CopyOf=2")
    + row("6", "fruta", "fruta", "NOUN", "ncfs000", "Gender=Fem", "2", "orphan", "5.1:obj", "SpaceAfter=No")
    + row("7", ".", ".", "PUNCT", "fp", "PunctType=Peri", "2", "punct", "2:punct", "_")
    + "\n"
)

# CoNLL-2003 English as distributed: token POS chunk NER, space-separated, -DOCSTART- documents.
CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


def conllu_error(content: str, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_conllu(write("bad.conllu", content), **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def conll_error(content: str, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_conll(write("bad.conll", content), **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# --- CoNLL-U ---------------------------------------------------------------------------------------


def test_conllu_words_not_multiword_tokens_or_empty_nodes() -> None:
    """Tokens are the syntactic words (de, el; not "del"), empty nodes are left out, UPOS are the tags;
    comments and ranges stay in ``source`` and ``token_rows`` point at the word lines."""
    first, second = read_conllu(write("es.conllu", SPANISH))
    assert first.tokens == ["Vengo", "de", "el", "mercado", "."]
    assert first.tags == ["VERB", "ADP", "DET", "NOUN", "PUNCT"]
    assert first.where == "es.conllu:1"
    assert (
        first.source is not None and len(first.source) == 9 and first.source[0] == "# newdoc id = es-test-001"
    )
    assert first.token_rows == [3, 5, 6, 7, 8]
    assert first.source[4].startswith("2-3\tdel")
    assert second.tokens == ["Juan", "come", "pan", "y", "María", "fruta", "."]
    assert second.tags == ["PROPN", "VERB", "NOUN", "CCONJ", "PROPN", "NOUN", "PUNCT"]
    assert second.where == "es.conllu:11"
    assert second.token_rows == [2, 3, 4, 5, 6, 8, 9]


def test_conllu_xpos_tags() -> None:
    """tag_field="xpos" takes column 5."""
    first, _ = read_conllu(write("es.conllu", SPANISH), tag_field="xpos")
    assert first.tags == ["vmip1s0", "spcms", "da0ms0", "ncms000", "fp"]


def test_conllu_untagged_input_for_prediction() -> None:
    """require_tags=False reads input to be tagged ("_" in the tag column): tags None, and the
    predicted tags go into the UPOS column, the multiword token "Vámonos" = "Vamos" + "nos" kept."""
    content = (
        "# text = Vámonos\n" + word("1-2", "Vámonos", "_") + word("1", "Vamos", "_") + word("2", "nos", "_")
    )
    path = write("raw.conllu", content)
    with pytest.raises(DataError, match=r"^raw\.conllu:3: no UPOS tag"):
        read_conllu(path)
    (sentence,) = read_conllu(path, require_tags=False)
    assert (sentence.tokens, sentence.tags, sentence.token_rows) == (["Vamos", "nos"], None, [2, 3])
    out = io.StringIO()
    write_conllu([sentence], [["VERB", "PRON"]], out)
    expected = content.replace("\tVamos\t_", "\tVamos\tVERB").replace("\tnos\t_", "\tnos\tPRON")
    assert out.getvalue() == expected + "\n"


def test_conllu_last_sentence_without_blank_line_or_newline() -> None:
    """The last sentence needs no blank line after it, nor a final newline; blank runs are one gap."""
    content = SPANISH.replace("\n\n#", "\n\n\n\n#").rstrip("\n")
    sentences = read_conllu(write("es.conllu", content))
    assert [len(s.tokens) for s in sentences] == [5, 7]
    assert sentences[1].where == "es.conllu:13"


def test_conllu_round_trip_is_byte_for_byte() -> None:
    """Written back with its own tags, a well-formed file (blank line after each sentence) is unchanged."""
    sentences = read_conllu(write("es.conllu", SPANISH))
    out = io.StringIO()
    write_conllu(sentences, [s.tags or [] for s in sentences], out)
    assert out.getvalue() == SPANISH
    xpos = read_conllu("es.conllu", tag_field="xpos")
    out = io.StringIO()
    write_conllu(xpos, [s.tags or [] for s in xpos], out, tag_field="xpos")
    assert out.getvalue() == SPANISH


def test_conllu_new_tags_change_only_the_upos_column() -> None:
    """Predicted tags replace column 4 of word lines; comments, the range line, the empty node and every
    other column are written as read."""
    sentences = read_conllu(write("es.conllu", SPANISH))
    predicted = [[f"T{i}" for i in range(len(s.tokens))] for s in sentences]
    out = io.StringIO()
    write_conllu(sentences, predicted, out)
    before, after = SPANISH.split("\n"), out.getvalue().split("\n")
    assert len(before) == len(after)
    changed = []
    for number, (old, new) in enumerate(zip(before, after, strict=True), 1):
        if old == new:
            continue
        old_fields, new_fields = old.split("\t"), new.split("\t")
        assert old_fields[:3] == new_fields[:3] and old_fields[4:] == new_fields[4:]
        changed.append((number, new_fields[3]))
    assert changed == [(4, "T0"), (6, "T1"), (7, "T2"), (8, "T3"), (9, "T4")] + [
        (n, f"T{i}") for i, n in enumerate([13, 14, 15, 16, 17, 19, 20])
    ]
    assert read_conllu(write("out.conllu", out.getvalue()))[1].tags == predicted[1]


def test_conllu_writer_refuses_mismatched_tags() -> None:
    """A tag list of the wrong length, a wrong number of lists, or a tag with a space: ValueError."""
    sentences = read_conllu(write("es.conllu", SPANISH))
    with pytest.raises(ValueError, match=r"es\.conllu:11: 7 tokens but 6 tags"):
        write_conllu(sentences, [["X"] * 5, ["X"] * 6], io.StringIO())
    with pytest.raises(ValueError, match=r"2 sentences but 1 tag sequences"):
        write_conllu(sentences, [["X"] * 5], io.StringIO())
    with pytest.raises(ValueError, match=r"tag 'A B' is empty or holds whitespace"):
        write_conllu(sentences, [["A B"] * 5, ["X"] * 7], io.StringIO())


@pytest.mark.parametrize(
    "content, kwargs, start, fragment",
    [
        (
            word("1", "a") + "2\tb\tb\tNOUN\n",
            {},
            "bad.conllu:2: 4 tab-separated columns; expected 10",
            "tabs",
        ),
        ("# c\n" + word("1", "a").replace("\t", " "), {}, "bad.conllu:2: 1 tab-separated column", "tabs"),
        (word("1", "a") + word("two", "b"), {}, "bad.conllu:2: ID 'two' is not an integer", "1-2"),
        (word("1", "a") + word("3", "b"), {}, "bad.conllu:2: word ID 3 after 1 words; expected 2", ""),
        (word("1", "a") + word("1", "b"), {}, "bad.conllu:2: word ID 1 after 1 words", "blank line"),
        ("\n" + word("1", "a", "_", "NN"), {}, "bad.conllu:2: no UPOS tag ('_')", "tag_field='xpos'"),
        (
            word("1", "a") + word("2", "b", "NOUN", "NN"),
            {"tag_field": "xpos"},
            "bad.conllu:1: no XPOS",
            "'upos'",
        ),
        ("# only a comment\n\n" + word("1", "a"), {}, "bad.conllu:1: comment lines without word lines", ""),
    ],
    ids=[
        "few-columns",
        "spaces",
        "non-integer-id",
        "id-gap",
        "missing-blank-line",
        "no-upos",
        "no-xpos",
        "no-words",
    ],
)
def test_conllu_errors_name_the_line(content: str, kwargs: dict, start: str, fragment: str) -> None:
    """Malformed CoNLL-U is refused with `file:LINE:` and what was expected."""
    message = conllu_error(content, **kwargs)
    assert message.startswith(start), message
    assert fragment in message, message


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"], ids=["zero-bytes", "blank", "bom"])
def test_empty_conllu_has_no_sentences(content: str) -> None:
    """An empty file: DataError "no sentences" naming it."""
    assert conllu_error(content).startswith("bad.conllu: no sentences")


# --- CoNLL column files ----------------------------------------------------------------------------


def test_conll2003_docstart_and_bio_tags() -> None:
    """-DOCSTART- documents are skipped; the last column (NER, BIO) is the tag by default, another
    column on request; ``where`` is the sentence's first line."""
    path = write("eng.train", CONLL2003)
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "1996-08-22"],
    ]
    assert [s.tags for s in sentences] == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-LOC", "O"],
    ]
    assert [s.where for s in sentences] == ["eng.train:3", "eng.train:9", "eng.train:14"]
    assert sentences[0].token_rows == [0, 1, 2, 3, 4]
    assert read_conll(path, tag_column=1)[0].tags == ["NNP", "VBZ", "JJ", "NN", "."]
    assert read_conll(path, token_column=1, tag_column=2)[1].tokens == ["NNP", "NNP"]


def test_conll_errors_name_the_line() -> None:
    """A column count that changes within a sentence, a tag column a line lacks, a token-only sentence
    among tagged ones, and an empty file: DataErrors naming file and line."""
    assert conll_error("EU B-ORG\nrejects O\nGerman JJ B-MISC\n").startswith(
        "bad.conll:3: 3 columns; expected 2 as on line 1"
    )
    assert conll_error("EU NNP B-ORG\n", tag_column=3).startswith("bad.conll:1: 3 columns; expected a token")
    assert conll_error("EU NNP B-ORG\n", token_column=-4).startswith("bad.conll:1: 3 columns")
    assert conll_error("EU B-ORG\nrejects\n").startswith("bad.conll:2: 1 column; expected 2")
    assert conll_error("EU B-ORG\n\nrejects\nit\n").startswith("bad.conll:3: a token-only sentence")
    assert conll_error("").startswith("bad.conll: no sentences")
    assert conll_error("-DOCSTART- -X- -X- O\n\n").startswith("bad.conll: no sentences")


def test_conll_token_only_file_is_untagged() -> None:
    """A file of one token per line (input to `seqlab predict`) gives untagged sentences."""
    sentences = read_conll(write("tokens.conll", "Peter\nBlackburn\n\nBRUSSELS\n"))
    assert [(s.tokens, s.tags, s.where) for s in sentences] == [
        (["Peter", "Blackburn"], None, "tokens.conll:1"),
        (["BRUSSELS"], None, "tokens.conll:4"),
    ]
    out = io.StringIO()
    write_conll(sentences, [["B-PER", "I-PER"], ["B-LOC"]], out)
    assert out.getvalue() == "Peter\tB-PER\nBlackburn\tI-PER\n\nBRUSSELS\tB-LOC\n\n"


def test_conll_round_trip_tab_separated_is_byte_for_byte() -> None:
    """A tab-separated file ending in a blank line is written back unchanged with its own tags."""
    content = "EU\tNNP\tB-ORG\nrejects\tVBZ\tO\n\nPeter\tNNP\tB-PER\n\n"
    sentences = read_conll(write("small.conll", content))
    out = io.StringIO()
    write_conll(sentences, [s.tags or [] for s in sentences], out)
    assert out.getvalue() == content


def test_conll2003_round_trip_with_new_tags() -> None:
    """Written back (tab-separated), CoNLL-2003 keeps token, POS and chunk columns, gets the new NER
    tags, and reads back to the same tokens and those tags; in-sentence -DOCSTART- lines survive."""
    sentences = read_conll(write("eng.train", CONLL2003))
    predicted = [["O"] * len(s.tokens) for s in sentences]
    out = io.StringIO()
    write_conll(sentences, predicted, out)
    text = out.getvalue()
    assert text.startswith("EU\tNNP\tB-NP\tO\nrejects\tVBZ\tB-VP\tO\n")
    again = read_conll(write("again.conll", text))
    assert [s.tokens for s in again] == [s.tokens for s in sentences]
    assert [s.tags for s in again] == predicted
    assert [s.tags for s in read_conll("again.conll", tag_column=1)] == [
        s.tags for s in read_conll("eng.train", tag_column=1)
    ]
    inline = read_conll(write("inline.conll", "-DOCSTART- O\nEU B-ORG\n"))
    out = io.StringIO()
    write_conll(inline, [["X"]], out)
    assert out.getvalue() == "-DOCSTART- O\nEU\tX\n\n"


def test_conll_writer_refuses_length_mismatch() -> None:
    """A sentence and its tags of different lengths: ValueError naming the sentence."""
    sentences = read_conll(write("eng.train", CONLL2003))
    with pytest.raises(ValueError, match=r"eng\.train:9: 2 tokens but 3 tags"):
        write_conll(sentences, [["O"] * 5, ["O"] * 3, ["O"] * 2], io.StringIO())


# --- raw text --------------------------------------------------------------------------------------


def test_token_lines_and_write_conll_without_source() -> None:
    """Raw text: one sentence per line, whitespace tokens, blank lines skipped; written as token<TAB>tag
    with a blank line after each sentence."""
    sentences = read_token_lines(write("input.txt", "Peter  Blackburn\tspoke .\n\n  \nin Brussels\n"))
    assert sentences == [
        LabelledSentence(["Peter", "Blackburn", "spoke", "."], None, "input.txt:1"),
        LabelledSentence(["in", "Brussels"], None, "input.txt:4"),
    ]
    out = io.StringIO()
    write_conll(sentences, [["B-PER", "I-PER", "O", "O"], ["O", "B-LOC"]], out)
    assert out.getvalue() == "Peter\tB-PER\nBlackburn\tI-PER\nspoke\tO\n.\tO\n\nin\tO\nBrussels\tB-LOC\n\n"
    with pytest.raises(ValueError, match=r"input\.txt:4: 2 tokens but 1 tags"):
        write_conll(sentences, [["O"] * 4, ["O"]], io.StringIO())


def test_token_lines_empty_and_non_utf8() -> None:
    """A blank file has no sentences; a non-UTF-8 byte is named with its line."""
    with pytest.raises(DataError, match=r"^input\.txt: no sentences"):
        read_token_lines(write("input.txt", " \n\n"))
    with pytest.raises(DataError, match=r"^input\.txt: not valid UTF-8 .*\(line 2, column 4\)"):
        read_token_lines(write("input.txt", b"fine\ncaf\xe9\n"))


# --- format detection ------------------------------------------------------------------------------


def test_detect_format_by_suffix_and_content() -> None:
    """.conllu/.conll decide by suffix; otherwise CoNLL-U rows, -DOCSTART- or tab columns decide, and
    anything else (plain sentences) is text."""
    assert detect_format(write("a.conllu", "anything\n")) == "conllu"
    assert detect_format(write("a.conll", "anything\n")) == "conll"
    assert detect_format(write("ud.tsv", SPANISH)) == "conllu"
    assert detect_format(write("train.txt", CONLL2003)) == "conll"
    assert detect_format(write("tags.tsv", "EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n")) == "conll"
    assert detect_format(write("input.txt", "Peter Blackburn spoke .\nin Brussels\n")) == "text"
    assert detect_format(write("input", "one sentence\n")) == "text"
    with pytest.raises(DataError, match=r"^missing\.txt: no such file"):
        detect_format("missing.txt")


def test_conll_whitespace_only_lines_separate_sentences() -> None:
    """WNUT-17's train file separates most sentences by a line holding one TAB: such lines (tabs or
    spaces only) end a sentence like an empty line, and later errors still name their own line."""
    path = write("wnut.conll", "Empire\tB-location\nState\tI-location\n\t\nHi\tO\n  \t \nthere\tO\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["Empire", "State"], ["Hi"], ["there"]]
    assert [s.where for s in sentences] == ["wnut.conll:1", "wnut.conll:4", "wnut.conll:6"]
    assert conll_error("a\tO\n\t\nb\tO\nc\tX\tO\n").startswith(
        "bad.conll:4: 3 columns; expected 2 as on line 3"
    )


def test_wnut17_files_read_as_distributed() -> None:
    """The real WNUT-17 files (tab-only separators in train, the single-label gold test file) give the
    sentence and token counts of the data README and the Hugging Face dataset card."""
    counts = {
        "ner/wnut17train.conll": (3394, 62730),
        "ner/emerging.dev.conll": (1009, 15733),
        "ner/emerging.test.annotated": (1287, 23394),
    }
    for name, (sentences, tokens) in counts.items():
        path = shared_file(name)
        assert detect_format(path) == "conll"
        read = read_conll(path)
        assert (len(read), sum(len(s.tokens) for s in read)) == (sentences, tokens), name
