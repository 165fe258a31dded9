"""Text corpora for language modelling: local files, Hugging Face datasets, and a built-in one.

Every corpus yields a ``datasets.DatasetDict`` with a ``train`` split, ``validation`` and ``test``
where the corpus has them (a split it lacks is absent, never an empty dataset), and one ``text``
column (one row per document). Extension is by ``class_path`` in YAML.
"""

from __future__ import annotations

import sysconfig
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import datasets

from seqlab.data.errors import DataError
from seqlab.data.formats.text_files import read_text_file
from seqlab.data.modules import checked_settings
from seqlab.data.modules.checked_settings import DataSettingError
from seqlab.data.splits import SPLITS, check_fractions


class TextCorpus(ABC):
    """A source of raw text, already divided into train/validation/test documents."""

    @abstractmethod
    def load(self) -> datasets.DatasetDict:
        """Return the splits as datasets with a ``text`` column."""


def _as_list(files: str | Sequence[str] | None) -> list[str]:
    if files is None:
        return []
    return [files] if isinstance(files, str) else list(files)


def _documents(texts: Sequence[str], sources: Sequence[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": list(texts), "source": list(sources)})


def split_stream(text: str, fractions: Sequence[float]) -> list[str]:
    """Cut one text stream into consecutive pieces by fractions, each cut moved to a line end."""
    check_fractions(fractions)
    cuts, acc = [], 0.0
    for fraction in fractions[:2]:
        acc += fraction
        pos = int(len(text) * acc)
        newline = text.find("\n", pos)
        cuts.append(len(text) if newline < 0 else max(newline + 1, cuts[-1] if cuts else 0))
    return [text[: cuts[0]], text[cuts[0] : cuts[1]], text[cuts[1] :]]


class TextFiles(TextCorpus):
    """Local UTF-8 text files: explicit files per split, or ``files`` cut into splits by ``fractions``.

    Args:
        train: training file(s).
        validation: validation file(s).
        test: test file(s) (none: no test split; ``seqlab test`` then says so).
        files: file(s) to concatenate and cut by ``fractions`` when splits are not given.
        fractions: train/validation/test shares of the concatenated stream.
    """

    def __init__(
        self,
        train: str | list[str] | None = None,
        validation: str | list[str] | None = None,
        test: str | list[str] | None = None,
        files: str | list[str] | None = None,
        fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    ) -> None:
        self.splits = {"train": _as_list(train), "validation": _as_list(validation), "test": _as_list(test)}
        self.files = _as_list(files)
        self.fractions = tuple(fractions)
        if self.files and any(self.splits.values()):
            raise DataError("give either `files` (cut by fractions) or train/validation/test files, not both")
        if not self.files and not self.splits["train"]:
            raise DataError("TextFiles needs `train` files (or `files` to cut by fractions)")
        if self.files:
            try:
                check_fractions(self.fractions)
            except DataError:
                expected = "three non-negative train/validation/test shares summing to 1"
                raise DataSettingError("data.corpus.fractions", list(self.fractions), expected) from None

    def load(self) -> datasets.DatasetDict:
        if self.files:
            stream = "".join(read_text_file(f) for f in self.files)
            pieces = split_stream(stream, self.fractions)
            source = ",".join(self.files)
            return datasets.DatasetDict(
                {s: _documents([p], [source]) for s, p in zip(SPLITS, pieces, strict=True)}
            )
        # A split without files is left out: an empty dataset would break encoding and batching.
        return datasets.DatasetDict(
            {
                split: _documents([read_text_file(f) for f in files], files)
                for split, files in self.splits.items()
                if files
            }
        )


class HubText(TextCorpus):
    """A Hugging Face dataset by name (online), or a packaged builder such as ``text``/``json``/``csv``
    with local ``data_files``.

    Args:
        path: dataset name on the Hub, or a builder name (``text``, ``json``, ``csv``, ``parquet``).
        name: dataset configuration name.
        data_files: builder data files, e.g. ``{"train": "a.jsonl", "validation": "b.jsonl"}``.
        text_column: column that holds the text.
        split_names: our split -> the dataset's split name (a missing one is left empty).
        cache_dir: where ``datasets`` caches downloads and Arrow files.
    """

    def __init__(
        self,
        path: str,
        name: str | None = None,
        data_files: dict[str, str | list[str]] | None = None,
        text_column: str = "text",
        split_names: dict[str, str] | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.path, self.name, self.data_files = path, name, data_files
        self.text_column = text_column
        self.split_names = split_names or {s: s for s in SPLITS}
        self.cache_dir = cache_dir

    def load(self) -> datasets.DatasetDict:
        loaded = datasets.load_dataset(
            self.path, self.name, data_files=self.data_files, cache_dir=self.cache_dir
        )
        out = {}
        for ours, theirs in self.split_names.items():
            if theirs not in loaded:
                raise DataError(
                    f"dataset {self.path!r}: no split {theirs!r} for {ours!r}; it has {sorted(loaded)}"
                )
            ds = loaded[theirs]
            if self.text_column not in ds.column_names:
                raise DataError(
                    f"dataset {self.path!r} split {theirs!r}: no column {self.text_column!r}; "
                    f"columns are {ds.column_names}"
                )
            ds = ds.select_columns([self.text_column])
            if self.text_column != "text":
                ds = ds.rename_column(self.text_column, "text")
            out[ours] = ds
        if "train" not in out:
            raise DataError(f"dataset {self.path!r}: `split_names` must map a 'train' split")
        return datasets.DatasetDict(out)


_STDLIB_SKIP = {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__", "turtledemo"}


class PythonStdlib(TextCorpus):
    """The built-in offline corpus: the running Python's own standard-library source files.

    Files are sorted by path and each is put in a split by a stable hash of its relative path, so
    the split is the same on every machine with the same Python version.

    Args:
        validation_percent: share of files (in percent) held out for validation.
        test_percent: share of files (in percent) held out for test.
        max_megabytes: keep about this much text in all, shared by the splits (``None``: all of it).
    """

    def __init__(
        self, validation_percent: int = 5, test_percent: int = 5, max_megabytes: float | None = None
    ) -> None:
        for key, percent in (("validation_percent", validation_percent), ("test_percent", test_percent)):
            checked_settings.whole_number(f"data.corpus.{key}", percent, minimum=0)
        if validation_percent + test_percent > 100:
            raise DataSettingError(
                "data.corpus.validation_percent + test_percent",
                validation_percent + test_percent,
                "at most 100 (percent of the files)",
            )
        if max_megabytes is not None:
            checked_settings.positive_number("data.corpus.max_megabytes", max_megabytes)
        self.validation_percent, self.test_percent = validation_percent, test_percent
        self.max_megabytes = max_megabytes

    @staticmethod
    def files() -> list[tuple[str, Path]]:
        root = Path(sysconfig.get_paths()["stdlib"])
        found = []
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if _STDLIB_SKIP.isdisjoint(rel.parts):
                found.append((rel.as_posix(), path))
        return found

    def split_of(self, relpath: str) -> str:
        bucket = zlib.crc32(relpath.encode()) % 100
        if bucket < self.validation_percent:
            return "validation"
        if bucket < self.validation_percent + self.test_percent:
            return "test"
        return "train"

    def load(self) -> datasets.DatasetDict:
        docs: dict[str, tuple[list[str], list[str]]] = {s: ([], []) for s in SPLITS}
        shares = {"validation": self.validation_percent, "test": self.test_percent}
        shares["train"] = 100 - sum(shares.values())
        used = dict.fromkeys(SPLITS, 0)
        for rel, path in self.files():
            split = self.split_of(rel)
            if self.max_megabytes is not None and used[split] >= self.max_megabytes * 1e4 * shares[split]:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # the built-in corpus simply leaves out the odd unreadable file
            used[split] += len(text)
            docs[split][0].append(text)
            docs[split][1].append(rel)
        if not docs["train"][0]:
            raise DataError(f"no readable .py files under {sysconfig.get_paths()['stdlib']}")
        return datasets.DatasetDict({s: _documents(*docs[s]) for s in SPLITS})
