"""Parallel data: line-aligned file pairs, TSV/JSONL tables, Hugging Face datasets, length filtering."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from seqlab.data.errors import DataError
from seqlab.data.examples import ParallelExample
from seqlab.data.formats.parallel_files import (
    load_hub_parallel,
    read_parallel_files,
    read_parallel_table,
)


def write(name: str, content: str) -> Path:
    """Write ``content`` to ``name`` in the test's own directory (the autouse fixture chdirs there)."""
    path = Path(name)
    path.write_bytes(content.encode("utf-8"))
    return path


# --- line-aligned files ----------------------------------------------------------------------------


def test_line_aligned_files_round_trip() -> None:
    """Line N pairs with line N; CRLF and a missing final line end change nothing; texts kept as is."""
    source = write("train.de", "Guten Morgen.\r\nWie geht's?\r\n Danke \n")
    target = write("train.en", "Good morning.\nHow are you?\n Thanks ")
    assert read_parallel_files(source, target) == [
        ParallelExample("Guten Morgen.", ["Good morning."], "train.de:1"),
        ParallelExample("Wie geht's?", ["How are you?"], "train.de:2"),
        ParallelExample(" Danke ", [" Thanks "], "train.de:3"),
    ]


def test_line_count_mismatch_names_both_files_and_counts() -> None:
    source = write("a.de", "eins\nzwei\ndrei\n")
    target = write("a.en", "one\ntwo\n")
    with pytest.raises(DataError, match=r"^a\.de has 3 lines but a\.en has 2 lines; expected line-aligned"):
        read_parallel_files(source, target)
    one = write("b.en", "one\n")
    with pytest.raises(DataError, match=r"^a\.de has 3 lines but b\.en has 1 line;"):
        read_parallel_files(source, one)


def test_empty_line_on_either_side_names_file_and_line() -> None:
    source = write("a.de", "eins\n\ndrei\n")
    target = write("a.en", "one\ntwo\nthree\n")
    with pytest.raises(DataError, match=r"^a\.de:2: empty line"):
        read_parallel_files(source, target)
    source = write("a.de", "eins\nzwei\ndrei\n")
    target = write("a.en", "one\ntwo\n  \t\n")  # whitespace only is empty too
    with pytest.raises(DataError, match=r"^a\.en:3: empty line"):
        read_parallel_files(source, target)


def test_missing_and_empty_files_are_refused() -> None:
    target = write("a.en", "one\n")
    with pytest.raises(DataError, match=r"^nope\.de: no such file"):
        read_parallel_files("nope.de", target)
    with pytest.raises(DataError, match=r"^e\.de: no sentences \(the file is empty; expected one sentence"):
        read_parallel_files(write("e.de", ""), target)


# --- TSV and JSONL tables --------------------------------------------------------------------------


def test_tsv_round_trip_without_quoting() -> None:
    """Header names the columns (any order, extra columns ignored); quotes stay; blank lines skipped."""
    path = write(
        "pairs.tsv",
        'id\ttarget\tsource\n1\tHe said "hi\tEr sagte "hallo\n\n2\tbye\ttschüss\n',
    )
    assert read_parallel_table(path) == [
        ParallelExample('Er sagte "hallo', ['He said "hi'], "pairs.tsv:2"),
        ParallelExample("tschüss", ["bye"], "pairs.tsv:4"),
    ]
    lexicon = write("lexicon.txt", "word\tphones\nrecord\tR EH K ER D\n")
    assert read_parallel_table(lexicon, "word", "phones", format="tsv") == [
        ParallelExample("record", ["R EH K ER D"], "lexicon.txt:2")
    ]


def test_tsv_errors_name_the_line() -> None:
    path = write("pairs.tsv", "src\ttgt\na\tb\n")
    with pytest.raises(
        DataError, match=r"^pairs\.tsv:1: no source column 'source'; the header has \['src', 't"
    ):
        read_parallel_table(path)
    with pytest.raises(DataError, match=r"^pairs\.tsv:1: no target column 'target'; the header has"):
        read_parallel_table(path, source_column="src")
    path = write("pairs.tsv", "source\ttarget\na\tb\nc\td\te\n")
    with pytest.raises(DataError, match=r"^pairs\.tsv:3: 3 fields; expected 2 as in the header"):
        read_parallel_table(path)
    path = write("pairs.tsv", "source\ttarget\na\t \n")
    with pytest.raises(DataError, match=r"^pairs\.tsv:2: empty text in column 'target'"):
        read_parallel_table(path)
    with pytest.raises(DataError, match=r"^only\.tsv: no examples"):
        read_parallel_table(write("only.tsv", "source\ttarget\n"))


def test_jsonl_round_trip_with_several_references() -> None:
    path = write(
        "pairs.jsonl",
        '{"source": "record", "target": ["R AH K AO R D", "R EH K ER D"]}\n'
        "\n"
        '{"target": "K AE T", "source": "cat", "extra": 1}\n',
    )
    assert read_parallel_table(path) == [
        ParallelExample("record", ["R AH K AO R D", "R EH K ER D"], "pairs.jsonl:1"),
        ParallelExample("cat", ["K AE T"], "pairs.jsonl:3"),
    ]


def test_jsonl_errors_name_the_line() -> None:
    cases = {
        '{"source": "a", "target": "b"}\n{"source": "a", "target": }\n': r"^p\.jsonl:2: invalid JSON",
        '["a", "b"]\n': r"^p\.jsonl:1: a JSON list; expected one JSON object",
        '{"source": "a", "tgt": "b"}\n': (
            r"^p\.jsonl:1: no target key 'target'; the object has \['source', 'tgt'\] "
            r"\(name the target key, target_column\)"
        ),
        '{"source": "a", "target": []}\n': r"^p\.jsonl:1: no targets in 'target' \(an empty list\)",
        '{"source": "a", "target": ["b", 3]}\n': r"^p\.jsonl:1: the text \('target'\) is 3 \(a number\)",
        '{"source": "", "target": "b"}\n': r"^p\.jsonl:1: empty text in column 'source'",
    }
    for content, message in cases.items():
        with pytest.raises(DataError, match=message):
            read_parallel_table(write("p.jsonl", content))


def test_unknown_suffix_or_format() -> None:
    path = write("pairs.csv", "source,target\na,b\n")
    with pytest.raises(DataError, match=r"^pairs\.csv: cannot tell the format from the suffix '\.csv'"):
        read_parallel_table(path)
    with pytest.raises(DataError, match=r"unknown format 'csv'; expected one of auto, tsv, jsonl"):
        read_parallel_table(path, format="csv")  # type: ignore[arg-type]


# --- Hugging Face datasets (local, offline) --------------------------------------------------------


def _wmt_like() -> datasets.DatasetDict:
    features = datasets.Features({"translation": datasets.Translation(languages=["de", "en"])})
    rows = [{"de": "Hallo Welt", "en": "Hello world"}, {"de": "Danke", "en": "Thanks"}]
    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"translation": rows}, features=features),
            "validation": datasets.Dataset.from_dict({"translation": rows[:1]}, features=features),
        }
    )


def test_hub_translation_layout() -> None:
    """WMT-style {language: text} dicts: source_lang/target_lang pick the direction."""
    _wmt_like().save_to_disk("wmt")
    assert load_hub_parallel("wmt", "train", source_lang="de", target_lang="en") == [
        ParallelExample("Hallo Welt", ["Hello world"], "wmt[train]:0"),
        ParallelExample("Danke", ["Thanks"], "wmt[train]:1"),
    ]
    assert load_hub_parallel("wmt", "validation", source_lang="en", target_lang="de") == [
        ParallelExample("Hello world", ["Hallo Welt"], "wmt[validation]:0")
    ]


def test_hub_translation_errors() -> None:
    _wmt_like().save_to_disk("wmt")
    with pytest.raises(DataError, match=r"no language 'fr' in the translations; they have \['de', 'en'\]"):
        load_hub_parallel("wmt", "train", source_lang="fr", target_lang="en")
    with pytest.raises(DataError, match=r"give both"):
        load_hub_parallel("wmt", "train", source_lang="de")
    with pytest.raises(
        DataError,
        match=r"no source column 'source'; the dataset has \['translation'\] "
        r"\(to read its 'translation' column, give source_lang and target_lang: \['de', 'en'\]\)",
    ):
        load_hub_parallel("wmt", "train")
    with pytest.raises(DataError, match=r"no split 'test'; it has \['train', 'validation'\]"):
        load_hub_parallel("wmt", "test", source_lang="de", target_lang="en")


def test_hub_columns_with_several_references() -> None:
    """Named columns; a list-of-strings target column gives several references per source."""
    data = datasets.Dataset.from_dict(
        {"word": ["the", "cat"], "phones": [["DH AH", "DH IY"], ["K AE T"]], "freq": [9, 1]}
    )
    datasets.DatasetDict({"train": data}).save_to_disk("g2p")
    assert load_hub_parallel("g2p", "train", source_column="word", target_column="phones") == [
        ParallelExample("the", ["DH AH", "DH IY"], "g2p[train]:0"),
        ParallelExample("cat", ["K AE T"], "g2p[train]:1"),
    ]
    with pytest.raises(
        DataError, match=r"no 'translation' column for source_lang/target_lang; the dataset has \['word', 'ph"
    ):
        load_hub_parallel("g2p", "train", source_lang="de", target_lang="en")
    with pytest.raises(
        DataError, match=r"no target column 'target'; the dataset has \['word', 'phones', 'fr\w+'\]$"
    ):
        load_hub_parallel("g2p", "train", source_column="word")
    with pytest.raises(DataError, match=r"^g2p\[train\]:0: the text \('freq'\) is \d+ \(a number\)"):
        load_hub_parallel("g2p", "train", source_column="word", target_column="freq")
