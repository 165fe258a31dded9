"""Corpora: local text files, Hugging Face packaged builders on local files, and the stdlib corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest

from seqlab.data.errors import DataError
from seqlab.data.sources.text import HubText, PythonStdlib, TextFiles, split_stream
from seqlab.data.splits import SPLITS

# --- TextFiles -------------------------------------------------------------------------------------


def test_textfiles_explicit_splits(tiny_corpus: dict[str, Path]) -> None:
    """Explicit train/validation/test files become one document each, with their exact text."""
    corpus = TextFiles(
        train=str(tiny_corpus["train"]),
        validation=str(tiny_corpus["validation"]),
        test=str(tiny_corpus["test"]),
    )
    loaded = corpus.load()
    assert isinstance(loaded, datasets.DatasetDict)
    assert list(loaded) == list(SPLITS)
    for split in SPLITS:
        assert loaded[split]["text"] == [tiny_corpus[split].read_text(encoding="utf-8")]
        assert loaded[split]["source"] == [str(tiny_corpus[split])]


def test_textfiles_several_files_per_split(tmp_path: Path) -> None:
    """A list of files for a split gives one document per file, in order; a split without files is
    absent (an empty one broke encoding)."""
    for name, text in {"a.txt": "alpha\n", "b.txt": "beta\n", "c.txt": "gamma\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    loaded = TextFiles(train=["b.txt", "a.txt"], validation="c.txt").load()
    assert loaded["train"]["text"] == ["beta\n", "alpha\n"]
    assert loaded["validation"]["text"] == ["gamma\n"]
    assert "test" not in loaded


def test_textfiles_bad_file_error_names_it(tmp_path: Path) -> None:
    """A non-UTF-8 training file fails the load with the file and location in the message."""
    (tmp_path / "good.txt").write_text("fine\n", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"ok\nno\xe9\n")
    corpus = TextFiles(train=["good.txt", "bad.txt"])
    with pytest.raises(DataError, match=r"^bad\.txt: not valid UTF-8 at byte offset 5 \(line 2, column 3\)"):
        corpus.load()


def test_textfiles_fractions_cut_at_line_ends_and_concatenate_back(tmp_path: Path) -> None:
    """files + fractions cut the concatenated stream at line ends; the pieces join back to the original."""
    lines = [f"line {i}: " + "x" * (i % 37) + "\n" for i in range(500)]
    first, second = "".join(lines[:300]), "".join(lines[300:])
    (tmp_path / "one.txt").write_text(first, encoding="utf-8")
    (tmp_path / "two.txt").write_text(second, encoding="utf-8")
    loaded = TextFiles(files=["one.txt", "two.txt"], fractions=(0.8, 0.15, 0.05)).load()
    pieces = [loaded[split]["text"] for split in SPLITS]
    assert all(len(p) == 1 for p in pieces)
    train, validation, test = (p[0] for p in pieces)
    original = first + second
    assert train + validation + test == original
    assert train.endswith("\n") and validation.endswith("\n")
    assert train.splitlines(keepends=True) == lines[: len(train.splitlines())]  # whole lines only
    total = len(original)
    assert 0.8 * total <= len(train) < 0.8 * total + 60
    assert 0.15 * total - 60 < len(validation) < 0.15 * total + 60
    assert test  # the rest is not empty
    assert loaded["train"]["source"] == ["one.txt,two.txt"]


def test_split_stream_cut_without_newline_takes_the_rest() -> None:
    """With no newline after a cut point, that cut goes to the end of the text."""
    assert split_stream("a\nbcdefghij", (0.5, 0.25, 0.25)) == ["a\nbcdefghij", "", ""]
    assert split_stream("ab\ncd\nef\ngh\n", (0.5, 0.25, 0.25)) == ["ab\ncd\nef\n", "gh\n", ""]


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.6, 0.6, -0.2), (0.5, 0.3, 0.1), (0.25, 0.25, 0.25, 0.25)]
)
def test_split_stream_bad_fractions(fractions: tuple[float, ...]) -> None:
    """Fractions must be three non-negative numbers that sum to 1; the message shows what was given."""
    with pytest.raises(DataError, match=re.escape(f"got {list(fractions)}")):
        split_stream("a\nb\nc\n", fractions)


def test_textfiles_bad_fractions_fail_when_configured(tmp_path: Path) -> None:
    """Tried: shares summing to 1.2. The error names ``data.corpus.fractions``, before any file is read
    (it used to say only ``fractions must be ...`` once loading began)."""
    with pytest.raises(
        DataError, match=r"^data\.corpus\.fractions \[0\.9, 0\.2, 0\.1\]: expected three non-neg"
    ):
        TextFiles(files="not-read.txt", fractions=(0.9, 0.2, 0.1))


def test_textfiles_files_and_splits_together_raise() -> None:
    """Giving both `files` and explicit split files is refused up front."""
    with pytest.raises(DataError, match="give either `files`"):
        TextFiles(train="train.txt", files=["all.txt"])
    with pytest.raises(DataError, match="give either `files`"):
        TextFiles(test="test.txt", files="all.txt")


def test_textfiles_needs_train() -> None:
    """Without train files or `files` there is nothing to train on."""
    with pytest.raises(DataError, match="needs `train` files"):
        TextFiles(validation="validation.txt")


# --- HubText ---------------------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def jsonl_files(tmp_path: Path) -> dict[str, str]:
    """JSON Lines splits whose text lives in a `content` column, next to an `id` column."""
    rows = {
        "train": [{"id": i, "content": f"def f{i}():\n    return {i}\n"} for i in range(5)],
        "validation": [{"id": 10, "content": "x = 'ünïcode'\n"}],
        "test": [{"id": 20, "content": "\tpass\n"}, {"id": 21, "content": "y = 2\n"}],
    }
    return {split: _write_jsonl(tmp_path / f"{split}.jsonl", r) for split, r in rows.items()}


def test_hubtext_json_builder_renames_text_column(jsonl_files: dict[str, str], tmp_path: Path) -> None:
    """The packaged json builder on local files gives the three splits with just a `text` column."""
    corpus = HubText(
        path="json", data_files=jsonl_files, text_column="content", cache_dir=str(tmp_path / "hf-cache")
    )
    loaded = corpus.load()
    assert sorted(loaded) == sorted(SPLITS)
    for split in SPLITS:
        assert loaded[split].column_names == ["text"]
    assert loaded["train"]["text"] == [f"def f{i}():\n    return {i}\n" for i in range(5)]
    assert loaded["validation"]["text"] == ["x = 'ünïcode'\n"]
    assert loaded["test"]["text"] == ["\tpass\n", "y = 2\n"]


def test_hubtext_split_names_map_our_splits(jsonl_files: dict[str, str], tmp_path: Path) -> None:
    """split_names maps our split names onto the dataset's own ones."""
    files = {"fit": jsonl_files["train"], "dev": jsonl_files["validation"]}
    corpus = HubText(
        path="json",
        data_files=files,
        text_column="content",
        split_names={"train": "fit", "validation": "dev"},
        cache_dir=str(tmp_path / "hf-cache"),
    )
    loaded = corpus.load()
    assert sorted(loaded) == ["train", "validation"]
    assert loaded["validation"]["text"] == ["x = 'ünïcode'\n"]


def test_hubtext_missing_column_names_it_and_lists_columns(
    jsonl_files: dict[str, str], tmp_path: Path
) -> None:
    """A text_column the data lacks raises DataError naming the column and listing the real columns."""
    corpus = HubText(
        path="json", data_files=jsonl_files, text_column="body", cache_dir=str(tmp_path / "hf-cache")
    )
    with pytest.raises(DataError, match=r"no column 'body'; columns are \['id', 'content'\]") as info:
        corpus.load()
    assert "'json'" in str(info.value)
    assert "split 'train'" in str(info.value)


def test_hubtext_missing_split_is_named(jsonl_files: dict[str, str], tmp_path: Path) -> None:
    """A split the dataset does not have raises DataError naming it and listing the splits it has."""
    corpus = HubText(
        path="json",
        data_files={"train": jsonl_files["train"]},
        text_column="content",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    with pytest.raises(DataError, match=r"no split 'validation' for 'validation'; it has \['train'\]"):
        corpus.load()


# --- PythonStdlib ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stdlib_half_mb() -> datasets.DatasetDict:
    """The stdlib corpus capped at half a megabyte (loaded once for this module)."""
    return PythonStdlib(max_megabytes=0.5).load()


def test_stdlib_is_deterministic(stdlib_half_mb: datasets.DatasetDict) -> None:
    """Two loads give the same files in the same splits with the same text."""
    again = PythonStdlib(max_megabytes=0.5).load()
    for split in SPLITS:
        assert again[split]["source"] == stdlib_half_mb[split]["source"]
        assert again[split]["text"] == stdlib_half_mb[split]["text"]


def test_stdlib_splits_are_disjoint_by_file_and_non_empty(stdlib_half_mb: datasets.DatasetDict) -> None:
    """Every split has text; no source file is in two splits; each file sits in the split its hash picks."""
    corpus = PythonStdlib(max_megabytes=0.5)
    sources = {split: stdlib_half_mb[split]["source"] for split in SPLITS}
    for split in SPLITS:
        assert sources[split], split
        assert all(text.strip() for text in stdlib_half_mb[split]["text"])
        assert all(corpus.split_of(rel) == split for rel in sources[split])
        assert len(set(sources[split])) == len(sources[split])
    assert set(sources["train"]).isdisjoint(sources["validation"])
    assert set(sources["train"]).isdisjoint(sources["test"])
    assert set(sources["validation"]).isdisjoint(sources["test"])
    assert all(rel.endswith(".py") and not rel.startswith("test/") for s in SPLITS for rel in sources[s])


def test_stdlib_max_megabytes_caps_total_size(stdlib_half_mb: datasets.DatasetDict) -> None:
    """max_megabytes=0.5 keeps roughly half a megabyte in all (a file may overshoot a share a little)."""
    sizes = {split: sum(len(t) for t in stdlib_half_mb[split]["text"]) for split in SPLITS}
    total = sum(sizes.values())
    assert 0.45e6 <= total < 0.8e6
    assert sizes["train"] >= 0.45e6  # train gets the 90% share
    everything = sum(len(text) for text in PythonStdlib(max_megabytes=1.5).load()["train"]["text"])
    assert everything > 2 * sizes["train"]


def test_stdlib_split_percentages_route_files() -> None:
    """split_of puts a file's stable hash bucket into validation, test or train by the percentages."""
    none_held_out = PythonStdlib(validation_percent=0, test_percent=0)
    all_validation = PythonStdlib(validation_percent=100, test_percent=0)
    rels = [rel for rel, _ in PythonStdlib.files()[:50]]
    assert {none_held_out.split_of(rel) for rel in rels} == {"train"}
    assert {all_validation.split_of(rel) for rel in rels} == {"validation"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_megabytes": -1}, "data.corpus.max_megabytes -1: expected a number above 0"),
        ({"validation_percent": -5}, "data.corpus.validation_percent -5: expected a whole number >= 0"),
        ({"validation_percent": 60, "test_percent": 50}, "test_percent 110: expected at most 100"),
    ],
)
def test_python_stdlib_settings_out_of_range_are_named(settings: dict, message: str) -> None:
    """`max_megabytes -1` said "no readable .py files under ..." (every file was skipped); percentages
    above 100 in all were taken as they came."""
    with pytest.raises(DataError, match=re.escape(message)):
        PythonStdlib(**settings)
