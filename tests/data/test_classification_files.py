"""Classification data: CSV/TSV/JSONL/text files and Hugging Face datasets; errors name the line."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest

from seqlab.data.errors import DataError
from seqlab.data.examples import TextExample
from seqlab.data.formats.classification_files import load_hub_classification, read_classification_file


def write(name: str, content: str | bytes) -> Path:
    """Write ``content`` to ``name`` in the test's own directory (the autouse fixture chdirs there)."""
    path = Path(name)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_classification_file(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# --- well-formed files -----------------------------------------------------------------------------


def test_glue_tsv_with_a_stray_double_quote() -> None:
    """SST-2's train.tsv as is: `sentence<TAB>label`, sentences with one unbalanced double quote (one
    opening the field); the quotes stay in the text and swallow nothing (TSV is read without quoting)."""
    path = write(
        "train.tsv",
        "sentence\tlabel\n"
        "hide new secretions from the parental units \t0\n"
        '" a stray quote opens this one \t1\n'
        "the film 's \" twisted sense of humor \t1\n"
        "that loves its characters \t1\n",
    )
    examples = read_classification_file(path)
    assert examples == [
        TextExample("hide new secretions from the parental units ", "0", "train.tsv:2"),
        TextExample('" a stray quote opens this one ', "1", "train.tsv:3"),
        TextExample("the film 's \" twisted sense of humor ", "1", "train.tsv:4"),
        TextExample("that loves its characters ", "1", "train.tsv:5"),
    ]


def test_glue_test_tsv_read_unlabelled() -> None:
    """GLUE test files (`index<TAB>sentence`, no label) read with label_column=None: labels are None."""
    path = write("test.tsv", "index\tsentence\n0\tuneasy mishmash of styles\n1\tdirector 's first film\n")
    examples = read_classification_file(path, label_column=None)
    assert [(e.text, e.label, e.where) for e in examples] == [
        ("uneasy mishmash of styles", None, "test.tsv:2"),
        ("director 's first film", None, "test.tsv:3"),
    ]


def test_csv_quoted_commas_and_newline_keep_line_numbers() -> None:
    """A quoted comma stays in the text; a quoted newline spans lines 3-4, and the rows after it are
    numbered by their real lines (5, 6), as an editor shows them."""
    path = write(
        "reviews.csv",
        'text,label\n"Good, cheap, fast",pos\n"First line\nsecond line",neg\nplain,pos\n"say ""hi""",neg\n',
    )
    examples = read_classification_file(path)
    assert examples == [
        TextExample("Good, cheap, fast", "pos", "reviews.csv:2"),
        TextExample("First line\nsecond line", "neg", "reviews.csv:3"),
        TextExample("plain", "pos", "reviews.csv:5"),
        TextExample('say "hi"', "neg", "reviews.csv:6"),
    ]


def test_csv_error_after_quoted_newline_names_the_right_line() -> None:
    """A bad row after a multi-line quoted field is reported at its own line, not one off."""
    path = write("reviews.csv", 'text,label\n"two\nlines",pos\nfine,neg\nno label here\n')
    assert error_of(path).startswith("reviews.csv:5: 1 field; expected 2")


def test_jsonl_int_and_string_labels() -> None:
    """Integer labels become their decimal string, string labels stay; blank lines are skipped but
    counted; other keys are ignored."""
    path = write(
        "train.jsonl",
        '{"text": "great", "label": 1, "id": 7}\n\n{"text": "awful", "label": 0}\n'
        '{"text": "meh", "label": "neutral"}\n',
    )
    examples = read_classification_file(path)
    assert examples == [
        TextExample("great", "1", "train.jsonl:1"),
        TextExample("awful", "0", "train.jsonl:3"),
        TextExample("meh", "neutral", "train.jsonl:4"),
    ]


def test_ndjson_suffix_explicit_columns_and_format_override() -> None:
    """.ndjson is JSONL; explicit text/label keys are used; format= overrides an unknown suffix."""
    path = write("data.ndjson", '{"review": "fine", "stars": 4}\n')
    assert read_classification_file(path, text_column="review", label_column="stars") == [
        TextExample("fine", "4", "data.ndjson:1")
    ]
    other = write("data.dat", "text\tlabel\nok\tyes\n")
    assert read_classification_file(other, format="tsv") == [TextExample("ok", "yes", "data.dat:2")]


def test_text_column_prefers_sentence_then_text() -> None:
    """With both "sentence" and "text" in the header, "sentence" (the GLUE name) is the text."""
    path = write("both.csv", "text,sentence,label\nthe text,the sentence,a\n")
    assert read_classification_file(path)[0].text == "the sentence"


def test_spreadsheet_headers_in_title_case() -> None:
    """A spreadsheet's export (BOM, CRLF, `Text,Label` header): the text column is found in any case;
    a label column named in another case is refused with the spelling the header has."""
    path = write("sheet.csv", b'\xef\xbb\xbfText,Intent\r\n"yes, please",confirm\r\n')
    assert read_classification_file(path, label_column="Intent") == [
        TextExample("yes, please", "confirm", "sheet.csv:2")
    ]
    assert "(names are case-sensitive: 'Intent'?)" in error_of(path, label_column="intent")
    assert "`--column` to predict" in error_of(write("no_text.csv", "review,label\nok,1\n"))


def test_bom_crlf_and_whitespace_around_labels() -> None:
    """A UTF-8 BOM before the header and CRLF line ends are dropped; labels are stripped of spaces."""
    path = write("win.tsv", b"\xef\xbb\xbfsentence\tlabel\r\nol\xc3\xa9\t pos \r\nnon\tneg\r\n")
    assert read_classification_file(path) == [
        TextExample("olé", "pos", "win.tsv:2"),
        TextExample("non", "neg", "win.tsv:3"),
    ]


def test_plain_text_one_unlabelled_text_per_line() -> None:
    """A .txt file is one text per line, unlabelled."""
    path = write("inputs.txt", "first text\nsecond, with comma\n")
    assert read_classification_file(path) == [
        TextExample("first text", None, "inputs.txt:1"),
        TextExample("second, with comma", None, "inputs.txt:2"),
    ]


# --- malformed files -------------------------------------------------------------------------------

MALFORMED = {
    # name: (file name, content, keyword arguments, expected start of the message, more fragments)
    "tsv-too-few-fields": ("a.tsv", "sentence\tlabel\ngood\t1\nno label here\n", {}, "a.tsv:3: 1 field;", []),
    "tsv-too-many-fields": (
        "a.tsv",
        "sentence\tlabel\ngood\t1\ntab\tinside\t0\n",
        {},
        "a.tsv:3: 3 fields",
        [],
    ),
    "csv-field-count": ("a.csv", "text,label\nok,1\nunquoted, comma,0\n", {}, "a.csv:3: 3 fields", []),
    "csv-bad-quoting": ("a.csv", 'text,label\nok,1\n"quoted"tail,0\n', {}, "a.csv:3: malformed CSV", []),
    "csv-open-quote": (
        "a.csv",
        'text,label\nok,1\n"never closed,0\nmore,1\n',
        {},
        "a.csv:3: malformed CSV",
        ["from line 3 to 4"],
    ),
    "csv-missing-text-column": (
        "a.csv",
        "review,label\nok,1\n",
        {},
        "a.csv:1: no text column",
        ["'sentence' or 'text'", "['review', 'label']"],
    ),
    "csv-missing-named-column": (
        "a.csv",
        "review,label\nok,1\n",
        {"text_column": "body"},
        "a.csv:1: no text column 'body'",
        ["['review', 'label']"],
    ),
    "tsv-missing-label-column": (
        "a.tsv",
        "sentence\tscore\nok\t1\n",
        {},
        "a.tsv:1: no label column 'label'",
        ["['sentence', 'score']"],
    ),
    "tsv-empty-text": ("a.tsv", "sentence\tlabel\nok\t1\n  \t0\n", {}, "a.tsv:3: empty text", []),
    "tsv-empty-label": ("a.tsv", "sentence\tlabel\nok\t1\nfine\t \n", {}, "a.tsv:3: empty label", []),
    "jsonl-bad-json": (
        "a.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", "label": 1,}\n',
        {},
        "a.jsonl:2: invalid JSON",
        ["column 26"],
    ),
    "jsonl-not-an-object": (
        "a.jsonl",
        '{"text": "a", "label": 1}\n["b", 1]\n',
        {},
        "a.jsonl:2: a JSON list",
        [],
    ),
    "jsonl-missing-label": (
        "a.jsonl",
        '{"text": "a", "label": 1}\n\n{"text": "b"}\n',
        {},
        "a.jsonl:3: no key 'label'",
        ["['text']"],
    ),
    "jsonl-missing-text": (
        "a.jsonl",
        '{"review": "b", "label": 1}\n',
        {},
        "a.jsonl:1: no text column",
        ["['review', 'label']"],
    ),
    "jsonl-empty-text": (
        "a.jsonl",
        '{"text": "a", "label": 1}\n{"text": " ", "label": 1}\n',
        {},
        "a.jsonl:2:",
        [],
    ),
    "jsonl-text-not-string": (
        "a.jsonl",
        '{"text": 5, "label": 1}\n',
        {},
        "a.jsonl:1: the text ('text') is 5 (a number); expected a string",
        [],
    ),
    "jsonl-float-label": (
        "a.jsonl",
        '{"text": "a", "label": 1.0}\n',
        {},
        "a.jsonl:1: the label is 1.0 (a number); expected a string or a whole number",
        [],
    ),
    "jsonl-bool-label": (
        "a.jsonl",
        '{"text": "a", "label": true}\n',
        {},
        "a.jsonl:1: the label is true (a boolean)",
        [],
    ),
    "jsonl-null-label": (
        "a.jsonl",
        '{"text": "a", "label": null}\n',
        {},
        "a.jsonl:1: the label is null;",
        [],
    ),
    "jsonl-list-label": (
        "a.jsonl",
        '{"text": "a", "label": [1]}\n',
        {},
        "a.jsonl:1: the label is [1] (a list)",
        [],
    ),
    "jsonl-dict-label": (
        "a.jsonl",
        '{"text": "a", "label": {}}\n',
        {},
        "a.jsonl:1: the label is {} (an object)",
        [],
    ),
    "jsonl-empty-label": ("a.jsonl", '{"text": "a", "label": ""}\n', {}, "a.jsonl:1: empty label", []),
    "txt-blank-line": ("a.txt", "one\n\nthree\n", {}, "a.txt:2: blank line", []),
    "unknown-suffix": (
        "a.xlsx",
        "text,label\n",
        {},
        "a.xlsx: cannot tell the format",
        [".csv, .tsv, .jsonl"],
    ),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_names_file_and_line(case: tuple[str, str, dict, str, list[str]]) -> None:
    """Each kind of bad record gives a DataError that starts with `file:LINE:` and says what is wrong."""
    name, content, kwargs, start, fragments = case
    message = error_of(write(name, content), **kwargs)
    assert message.startswith(start), message
    for fragment in fragments:
        assert fragment in message, message


def test_non_utf8_byte_names_file_and_line() -> None:
    """A Latin-1 byte on line 3 is refused with the file name, the line and the byte."""
    path = write("latin1.tsv", b"sentence\tlabel\nok\t1\ncaf\xe9\t0\n")
    message = error_of(path)
    assert message.startswith("latin1.tsv: not valid UTF-8"), message
    assert "(line 3, column 4)" in message and "e9" in message


@pytest.mark.parametrize("name", ["empty.csv", "empty.tsv", "empty.jsonl", "empty.txt"])
@pytest.mark.parametrize(
    "content", [b"", b"\xef\xbb\xbf", b"\n \n"], ids=["zero-bytes", "bom", "blank-lines"]
)
def test_empty_file_has_no_examples(name: str, content: bytes) -> None:
    """An empty (or BOM-only, or blank) file of any format: DataError "no examples" naming the file."""
    assert re.match(rf"^{re.escape(name)}: no examples", error_of(write(name, content)))


@pytest.mark.parametrize(
    "name, content", [("head.csv", "text,label\n"), ("head.tsv", "sentence\tlabel\n\n")], ids=["csv", "tsv"]
)
def test_header_only_file_has_no_examples(name: str, content: str) -> None:
    """A header row and nothing after it: DataError "no examples" naming the file."""
    assert error_of(write(name, content)).startswith(f"{name}: no examples (only a header row")


def test_missing_file_is_named() -> None:
    """A file that is not there is refused by name (through read_text_file)."""
    assert error_of(Path("nowhere.tsv")).startswith("nowhere.tsv: no such file")


# --- Hugging Face datasets (local only: the fixture sets HF_DATASETS_OFFLINE=1) ---------------------


def _sst_like() -> datasets.DatasetDict:
    features = datasets.Features(
        {
            "idx": datasets.Value("int32"),
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
        }
    )
    train = datasets.Dataset.from_dict(
        {"idx": [0, 1, 2], "sentence": ["dull", "a joy", "fine"], "label": [0, 1, 1]}, features=features
    )
    test = datasets.Dataset.from_dict({"idx": [0], "sentence": ["unseen"], "label": [-1]}, features=features)
    return datasets.DatasetDict({"train": train, "test": test})


def test_hub_saved_dataset_classlabel_names() -> None:
    """A save_to_disk directory: ClassLabel indices become their names, "sentence" is found as the text,
    and ``where`` is name[split]:row."""
    _sst_like().save_to_disk("sst")
    examples = load_hub_classification("sst", "train")
    assert examples == [
        TextExample("dull", "negative", "sst[train]:0"),
        TextExample("a joy", "positive", "sst[train]:1"),
        TextExample("fine", "positive", "sst[train]:2"),
    ]


def test_hub_unlabelled_rows_missing_split_and_columns_are_refused() -> None:
    """Label -1 (GLUE's unlabelled test rows), an unknown split and a missing column: DataErrors."""
    _sst_like().save_to_disk("sst")
    with pytest.raises(DataError, match=r"^sst\[test\]:0: class index -1"):
        load_hub_classification("sst", "test")
    with pytest.raises(DataError, match=r"no split 'validation'; it has \['test', 'train'\]"):
        load_hub_classification("sst", "validation")
    with pytest.raises(
        DataError, match=r"no text column 'review'; the dataset has \['idx', 'sentence', 'label'\]"
    ):
        load_hub_classification("sst", "train", text_column="review")
    with pytest.raises(DataError, match=r"no label column 'stars'"):
        load_hub_classification("sst", "train", label_column="stars")


def test_hub_saved_single_split() -> None:
    """A saved single Dataset is used for its split."""
    _sst_like()["train"].save_to_disk("sst-train")
    assert load_hub_classification("sst-train", "train")[1] == TextExample(
        "a joy", "positive", "sst-train[train]:1"
    )


def test_hub_local_directory_of_csv_files() -> None:
    """A plain directory of train.csv/test.csv is loaded by ``datasets`` (csv builder), offline; string
    labels stay strings, integer labels become decimal strings."""
    folder = Path("reviews")
    folder.mkdir()
    (folder / "train.csv").write_text('text,label\n"good, really",pos\nbad,neg\n', encoding="utf-8")
    (folder / "test.csv").write_text("text,label\nok,pos\n", encoding="utf-8")
    assert load_hub_classification("reviews", "train") == [
        TextExample("good, really", "pos", "reviews[train]:0"),
        TextExample("bad", "neg", "reviews[train]:1"),
    ]
    numbered = Path("numbered")
    numbered.mkdir()
    (numbered / "train.csv").write_text("text,label\nx,3\ny,0\n", encoding="utf-8")
    assert [e.label for e in load_hub_classification("numbered", "train")] == ["3", "0"]


def test_hub_unknown_name_offline_is_a_data_error() -> None:
    """A name that is neither a local directory nor reachable (offline) is a DataError naming it."""
    with pytest.raises(DataError, match=r"^dataset 'no-such/dataset-xyz': cannot load it"):
        load_hub_classification("no-such/dataset-xyz", "train")


def test_a_folder_given_as_the_file_is_named_as_a_folder() -> None:
    """`--input data` (a folder, no suffix) was "cannot tell the format from the suffix ''"."""
    Path("data").mkdir()
    expected = "data: a folder, not a file; expected a .csv/.tsv/.jsonl/.ndjson/.txt file"
    assert error_of(Path("data")) == expected
