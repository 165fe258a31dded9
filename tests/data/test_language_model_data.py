"""LanguageModelData: training-split vocabulary, cached encodings, stream windows and saved state."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest
import torch

from seqlab.data.modules.language_model import LanguageModelData
from seqlab.data.modules.streams import StreamWindows
from seqlab.data.sources.text import TextCorpus, TextFiles
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer


def _files(corpus: dict[str, Path]) -> TextFiles:
    """TextFiles over the tiny_corpus splits."""
    return TextFiles(**{split: str(path) for split, path in corpus.items()})


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_vocab_comes_from_training_split_only(tiny_corpus: dict[str, Path]) -> None:
    """A character only in validation is not in the vocabulary and encodes to 0 there."""
    train = _text(tiny_corpus["train"])
    assert "Ω" not in train
    validation = _text(tiny_corpus["validation"]) + "Ω = 1\n"
    tiny_corpus["validation"].write_text(validation, encoding="utf-8")

    dm = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8)
    assert dm.tokenizer.vocab == ["<unk>", *sorted(set(train))]
    assert dm.vocab_size == len(set(train)) + 1
    ids = dm.encoded("validation")
    assert ids.dtype == torch.int64
    assert len(ids) == len(validation)
    omega = validation.index("Ω")
    assert ids[omega].item() == 0
    assert ids[omega + 1 :].tolist() == dm.tokenizer.encode(" = 1\n").tolist()
    expected = "".join(c if c in set(train) else "\ufffd" for c in validation)
    assert dm.tokenizer.detokenize(ids.tolist()) == expected
    assert dm.tokenizer.detokenize(dm.encoded("train").tolist()) == train


def test_default_cache_dir_is_seqlab_cache(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    """Without cache_dir, encodings go under $SEQLAB_CACHE."""
    dm = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8)
    assert dm.cache_dir == Path(os.environ["SEQLAB_CACHE"]) == tmp_path / "cache"
    dm.encoded("test")
    assert [p.name.split("-")[0] for p in (tmp_path / "cache" / "encoded").glob("*.arrow")] == ["test"]


def test_encoded_split_is_cached_and_reused(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    """encoded() writes one Arrow file per split under cache_dir/encoded; a second data module with the
    same data and tokenizer reads it back (file not rewritten) and gets an equal tensor."""
    cache = tmp_path / "my-cache"
    first = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8, cache_dir=str(cache))
    ids = first.encoded("validation")
    files = sorted((cache / "encoded").glob("*.arrow"))
    assert len(files) == 1
    assert files[0].name.startswith("validation-")
    os.utime(files[0], ns=(10**18, 10**18))  # a marker a rewrite would replace
    inode = files[0].stat().st_ino

    second = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8, cache_dir=str(cache))
    again = second.encoded("validation")
    assert torch.equal(again, ids)
    assert sorted((cache / "encoded").glob("*.arrow")) == files
    assert files[0].stat().st_mtime_ns == 10**18
    assert files[0].stat().st_ino == inode
    assert second.chars_per_token["validation"] == 1.0

    second.prepare_data()
    names = sorted(p.name.split("-")[0] for p in (cache / "encoded").glob("*.arrow"))
    assert names == ["test", "train", "validation"]


def test_changed_text_is_not_served_from_stale_cache(tiny_corpus: dict[str, Path], tmp_path: Path) -> None:
    """Editing a split's file changes its cache key: the new text is encoded, not the old ids reused."""
    cache = str(tmp_path / "cache")
    LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8, cache_dir=cache).encoded("test")
    changed = _text(tiny_corpus["test"]).replace("self", "this")
    tiny_corpus["test"].write_text(changed, encoding="utf-8")
    dm = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8, cache_dir=cache)
    assert dm.encoded("test").tolist() == dm.tokenizer.encode(changed).tolist()
    assert len(list((tmp_path / "cache" / "encoded").glob("test-*.arrow"))) == 2


class _SlicedCorpus(TextCorpus):
    """A user corpus whose validation split is a slice of a larger dataset (e.g. a `select` of rows)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def load(self) -> datasets.DatasetDict:
        rows = ["def a():\n", "    pass\n", "class B:\n", "    x = 1\n"]
        full = datasets.Dataset.from_dict({"text": rows})
        return datasets.DatasetDict(
            {"train": full, "validation": full.select(range(self.start, self.start + 2)), "test": full}
        )


def test_cache_key_follows_the_rows_of_a_sliced_split(tmp_path: Path) -> None:
    """Two corpora whose validation splits are different slices of the same table hold different text,
    so the second must not get the first one's cached ids."""
    cache = str(tmp_path / "cache")
    for start in (0, 2):
        dm = LanguageModelData(_SlicedCorpus(start), batch_size=1, seq_len=4, cache_dir=cache)
        text = "".join(dm.raw["validation"]["text"])
        decoded = dm.tokenizer.detokenize(dm.encoded("validation").tolist())
        assert decoded == text, f"slice starting at {start}"


def test_chars_per_token_for_characters_and_subwords(tiny_corpus: dict[str, Path]) -> None:
    """Characters give exactly 1.0 character per token; sentencepiece subwords give clearly more."""
    chars = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8)
    chars.encoded("train")
    assert chars.chars_per_token == {"train": 1.0}

    sub = LanguageModelData(
        _files(tiny_corpus), tokenizer=SentencePieceTokenizer(vocab_size=600), batch_size=2, seq_len=8
    )
    assert sub.vocab_size == 600
    for split in ("train", "validation"):
        ids = sub.encoded(split)
        text = _text(tiny_corpus[split])
        assert sub.tokenizer.detokenize(ids.tolist()) == text
        assert sub.chars_per_token[split] == pytest.approx(len(text) / len(ids))
        assert sub.chars_per_token[split] > 1.5


def test_setup_fit_builds_train_and_validation_windows(tiny_corpus: dict[str, Path]) -> None:
    """setup("fit") builds StreamWindows for train (batch_size) and validation (eval_batch_size)."""
    dm = LanguageModelData(_files(tiny_corpus), batch_size=4, seq_len=16, eval_batch_size=2)
    dm.setup("fit")
    assert set(dm.windows) == {"train", "validation"}
    train, validation = dm.windows["train"], dm.windows["validation"]
    assert isinstance(train, StreamWindows) and isinstance(validation, StreamWindows)
    ids = dm.encoded("train")
    length = (len(ids) - 1) // 4
    assert train.stream_length == length
    assert torch.equal(train.inputs, ids[: 4 * length].view(4, length))
    x, y = train[0]
    assert x.shape == y.shape == (4, 16)
    assert validation[0][0].shape == (2, 16)
    assert validation.stream_length == (len(dm.encoded("validation")) - 1) // 2

    dm.setup("test")
    assert set(dm.windows) == {"train", "validation", "test"}
    assert dm.windows["test"][0][0].shape[0] == 2


def test_train_loader_yields_windows_in_order(tiny_corpus: dict[str, Path]) -> None:
    """The train loader gives whole batches in window order, so each batch continues the one before."""
    dm = LanguageModelData(_files(tiny_corpus), batch_size=3, seq_len=32)
    dm.setup("fit")
    windows = dm.windows["train"]
    batches = list(dm.train_dataloader())
    assert len(batches) == len(windows)
    for k, (x, y) in enumerate(batches):
        assert torch.equal(x, windows[k][0])
        assert torch.equal(y, windows[k][1])
    joined = torch.cat([x for x, _ in batches], dim=1)
    assert torch.equal(joined, windows.inputs)


def test_state_dict_holds_tokenizer_and_rejects_another(tiny_corpus: dict[str, Path]) -> None:
    """state_dict carries the tokenizer (enough to rebuild it); loading a different one raises."""
    dm = LanguageModelData(_files(tiny_corpus), batch_size=2, seq_len=8)
    state = dm.state_dict()
    assert state == {"tokenizer": dm.tokenizer.state_dict()}
    rebuilt = tokenizer_from_state(state["tokenizer"])
    sample = _text(tiny_corpus["test"])
    assert rebuilt.encode(sample).tolist() == dm.tokenizer.encode(sample).tolist()

    same = LanguageModelData(_files(tiny_corpus), batch_size=8, seq_len=4)
    same.load_state_dict(state)  # same data settings: accepted

    rarer = CharTokenizer(min_freq=5)
    other = LanguageModelData(_files(tiny_corpus), tokenizer=rarer, batch_size=2, seq_len=8)
    assert other.tokenizer.vocab != dm.tokenizer.vocab
    with pytest.raises(ValueError, match="different tokenizer"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="different tokenizer"):
        dm.load_state_dict({})
