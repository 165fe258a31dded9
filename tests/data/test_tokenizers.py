"""Character and sentencepiece tokenizers: vocabularies, exact round trips, caching and saved state."""

from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from seqlab.data.errors import DataError
from seqlab.data.tokenizers.base import UNK
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])

# Text that must survive a sentencepiece round trip: indentation, blank lines, tabs, unicode.
TRICKY = (
    "def f(x):\n"
    "    \n"
    "\n"
    "\n"
    "\tif x:\t# tab-indented\n"
    "\t\treturn 'héllo wörld ∑ λ 😀'\n"
    "        return   None  \n"
    "  leading spaces\n"
    "ends without newline  "
)


@pytest.fixture(scope="module")
def python_source() -> str:
    """About 8 KB of real Python source."""
    return (STDLIB / "textwrap.py").read_text(encoding="utf-8")[:8000]


# --- characters ------------------------------------------------------------------------------------


def test_char_fit_builds_sorted_vocab_with_unk_first() -> None:
    """fit collects every character of the given texts, sorted, after `<unk>` at id 0."""
    tok = CharTokenizer().fit(["banana\n", "cab"])
    assert tok.vocab == [UNK, "\n", "a", "b", "c", "n"]
    assert tok.vocab_size == 6
    assert tok.unk_id == 0
    assert tok.kind == "char"


def test_char_round_trip_including_whitespace_and_non_bmp() -> None:
    """In-vocabulary text with newlines, tabs, non-ASCII and an emoji decodes back exactly."""
    text = "line one\n\tтаб ∑ é\n😀 end\n\n"
    tok = CharTokenizer().fit([text])
    ids = tok.encode(text)
    assert len(ids) == len(text)  # one id per code point, the emoji included
    assert 0 not in ids
    assert tok.detokenize(ids) == text
    assert tok.detokenize(ids.tolist()) == text
    assert tok.vocab[int(ids[text.index("😀")])] == "😀"


def test_char_encode_returns_int32_array() -> None:
    """encode gives a 1-D numpy int32 array of the vocabulary positions."""
    tok = CharTokenizer().fit(["abc"])
    ids = tok.encode("cab")
    assert isinstance(ids, np.ndarray)
    assert ids.dtype == np.int32
    assert ids.tolist() == [3, 1, 2]
    assert tok.encode("").tolist() == []


def test_char_unknown_characters_map_to_zero_and_decode_to_replacement() -> None:
    """Characters outside the vocabulary (below and above its highest code point) encode to 0 -> U+FFFD."""
    tok = CharTokenizer().fit(["ace"])
    ids = tok.encode("abcz😀e")  # 'b' lies inside the lookup table's range, 'z' and the emoji beyond it
    assert ids.tolist() == [1, 0, 2, 0, 0, 3]
    assert tok.detokenize(ids) == "a\ufffdc\ufffd\ufffde"


def test_char_min_freq_drops_rare_characters() -> None:
    """Characters seen fewer than min_freq times are left out of the vocabulary and encode to 0."""
    tok = CharTokenizer(min_freq=3).fit(["aaab", "bbc", "a"])
    assert tok.vocab == [UNK, "a", "b"]
    assert tok.encode("abc").tolist() == [1, 2, 0]


def test_char_fit_on_no_text_raises() -> None:
    """An empty training split cannot give a vocabulary."""
    with pytest.raises(DataError, match="no text"):
        CharTokenizer().fit(["", ""])


def test_char_fixed_vocab_is_kept_by_fit() -> None:
    """A tokenizer built with a vocabulary ignores the texts given to fit."""
    tok = CharTokenizer(vocab=[UNK, "x", "y"]).fit(["abc"])
    assert tok.vocab == [UNK, "x", "y"]
    assert tok.encode("xya").tolist() == [1, 2, 0]


def test_char_state_round_trip_gives_identical_encodings() -> None:
    """state_dict -> tokenizer_from_state rebuilds a tokenizer with the same vocabulary and ids."""
    text = "Hello, wörld!\n\t😀"
    tok = CharTokenizer().fit([text, "more text"])
    state = tok.state_dict()
    assert state == {"type": "char", "vocab": tok.vocab}
    rebuilt = tokenizer_from_state(state)
    assert isinstance(rebuilt, CharTokenizer)
    probe = text + " unseen ß"
    assert np.array_equal(rebuilt.encode(probe), tok.encode(probe))
    assert rebuilt.fingerprint() == tok.fingerprint()


def test_char_fingerprint_stable_for_equal_and_different_for_other_vocab() -> None:
    """Equal vocabularies give equal fingerprints; any change in the vocabulary changes it."""
    a = CharTokenizer().fit(["hello"]).fingerprint()
    b = CharTokenizer().fit(["olleh", "hello"]).fingerprint()
    c = CharTokenizer().fit(["hello!"]).fingerprint()
    assert a == b
    assert a != c
    assert re.fullmatch(r"[0-9a-f]{16}", a)


def test_char_encode_before_fit_raises() -> None:
    """Encoding with an unfitted tokenizer is an error, not an empty result."""
    with pytest.raises(RuntimeError, match=r"before fit"):
        CharTokenizer().encode("abc")


def test_unknown_state_type_raises() -> None:
    """tokenizer_from_state refuses a state it does not know."""
    with pytest.raises(DataError, match="unknown tokenizer state type 'wordpiece'"):
        tokenizer_from_state({"type": "wordpiece"})


# --- sentencepiece ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_sentencepiece_round_trips_code_exactly(model_type: str, python_source: str, tmp_path: Path) -> None:
    """BPE and unigram models trained on Python source decode their encodings back to the exact text."""
    tok = SentencePieceTokenizer(model_type=model_type, vocab_size=500).fit([python_source], tmp_path)
    assert tok.kind == "subword"
    assert tok.vocab_size == 500
    for text in (python_source, TRICKY, "\n\n\n", "   ", "\t"):
        ids = tok.encode(text)
        assert ids.dtype == np.int32
        assert tok.detokenize(ids) == text, text
    # subwords: the training text needs clearly fewer tokens than characters
    assert len(tok.encode(python_source)) < 0.6 * len(python_source)


def test_sentencepiece_training_is_cached_by_content(python_source: str, tmp_path: Path) -> None:
    """A second fit on the same texts, by a new object, loads the cached model instead of training again."""
    cache = tmp_path / "cache"
    first = SentencePieceTokenizer(vocab_size=500).fit([python_source], cache)
    models = sorted((cache / "sentencepiece").iterdir())
    assert [p.suffix for p in models] == [".model"]
    model = models[0]
    os.utime(model, ns=(10**18, 10**18))  # a marker a rewrite would replace
    inode = model.stat().st_ino

    second = SentencePieceTokenizer(vocab_size=500).fit([python_source], cache)
    assert sorted((cache / "sentencepiece").iterdir()) == models
    assert model.stat().st_mtime_ns == 10**18
    assert model.stat().st_ino == inode
    assert second.state_dict() == first.state_dict()
    assert np.array_equal(second.encode(TRICKY), first.encode(TRICKY))

    # different texts or settings are a different cache entry
    SentencePieceTokenizer(vocab_size=500).fit([python_source + "\nextra = 1\n"], cache)
    SentencePieceTokenizer(vocab_size=520).fit([python_source], cache)
    assert len(list((cache / "sentencepiece").iterdir())) == 3


def test_sentencepiece_cache_key_respects_document_boundaries(python_source: str, tmp_path: Path) -> None:
    """Documents that concatenate to the same string but split into different training lines are
    different training data, so they must not share one cached model."""
    cache = tmp_path / "cache"
    head, tail = python_source[:3001], python_source[3001:]
    assert not head.endswith("\n") and not tail.startswith("\n")  # the cut falls inside a line
    SentencePieceTokenizer(vocab_size=500).fit([head + tail], cache)
    SentencePieceTokenizer(vocab_size=500).fit([head, tail], cache)
    assert len(list((cache / "sentencepiece").iterdir())) == 2


def test_sentencepiece_loads_model_file(python_source: str, tmp_path: Path) -> None:
    """A tokenizer given `model_file` loads it (no training) and encodes like the one that made it."""
    trained = SentencePieceTokenizer(model_type="unigram", vocab_size=500).fit([python_source], tmp_path)
    (model,) = (tmp_path / "sentencepiece").iterdir()
    other_cache = tmp_path / "other"
    loaded = SentencePieceTokenizer(model_type="unigram", model_file=str(model)).fit(["ignored"], other_cache)
    assert not other_cache.exists()
    assert loaded.vocab_size == trained.vocab_size
    assert np.array_equal(loaded.encode(TRICKY), trained.encode(TRICKY))
    assert loaded.detokenize(loaded.encode(TRICKY)) == TRICKY


def test_sentencepiece_missing_model_file_raises(tmp_path: Path) -> None:
    """A `model_file` that does not exist raises DataError naming it."""
    missing = tmp_path / "nope.model"
    tok = SentencePieceTokenizer(model_file=str(missing))
    with pytest.raises(DataError, match=rf"^{re.escape(str(missing))}: no such sentencepiece model file"):
        tok.fit(["some text"], tmp_path)


def test_sentencepiece_bad_model_type_raises() -> None:
    """Only bpe and unigram are accepted, and the message shows what was given."""
    with pytest.raises(DataError, match=r"model_type must be 'bpe' or 'unigram', got 'word'"):
        SentencePieceTokenizer(model_type="word")


def test_sentencepiece_state_round_trip(python_source: str, tmp_path: Path) -> None:
    """tokenizer_from_state(state_dict()) gives the same model: same ids, pieces and fingerprint."""
    tok = SentencePieceTokenizer(model_type="unigram", vocab_size=500).fit([python_source], tmp_path)
    state = tok.state_dict()
    assert state["type"] == "sentencepiece"
    assert state["model_type"] == "unigram"
    assert isinstance(state["model"], bytes)
    rebuilt = tokenizer_from_state(state)
    assert isinstance(rebuilt, SentencePieceTokenizer)
    assert rebuilt.vocab_size == tok.vocab_size
    assert np.array_equal(rebuilt.encode(python_source), tok.encode(python_source))
    assert rebuilt.detokenize(rebuilt.encode(TRICKY)) == TRICKY
    assert rebuilt.fingerprint() == tok.fingerprint()


def test_sentencepiece_fingerprint_differs_between_models(python_source: str, tmp_path: Path) -> None:
    """Two different trained models have different fingerprints."""
    bpe = SentencePieceTokenizer(model_type="bpe", vocab_size=500).fit([python_source], tmp_path)
    uni = SentencePieceTokenizer(model_type="unigram", vocab_size=500).fit([python_source], tmp_path)
    assert bpe.fingerprint() != uni.fingerprint()


def test_sentencepiece_vocab_larger_than_data_allows(tmp_path: Path) -> None:
    """Asking for more pieces than a tiny corpus supports gives a smaller vocabulary, not an error."""
    text = "x = 1\ny = x + 2\nprint(x, y)\n" * 20
    tok = SentencePieceTokenizer(model_type="bpe", vocab_size=5000).fit([text], tmp_path)
    assert 258 < tok.vocab_size < 5000  # 256 byte pieces + <unk> + newline, plus what was learnt
    assert tok.detokenize(tok.encode(text)) == text
    assert tok.detokenize(tok.encode("ünseen\tthings")) == "ünseen\tthings"  # byte fallback


def test_sentencepiece_used_before_fit_raises() -> None:
    """Encoding or saving an unfitted sentencepiece tokenizer is an error."""
    tok = SentencePieceTokenizer()
    with pytest.raises(RuntimeError, match="before fit"):
        tok.encode("abc")
    with pytest.raises(RuntimeError, match="before fit"):
        tok.state_dict()


# --- subword sampling (subword regularization) -----------------------------------------------------


@pytest.mark.parametrize(("model_type", "alpha"), [("unigram", 0.1), ("bpe", 0.2)])
def test_sentencepiece_sampling_is_a_function_of_the_seed(
    model_type: str, alpha: float, python_source: str, tmp_path: Path
) -> None:
    """A sampled segmentation depends on its seed alone (other draws in between change nothing),
    spells the same text, and differs from the best one for some seeds; ``encode`` stays the best
    segmentation and the saved state is that of a tokenizer without sampling (prediction never
    samples)."""
    plain = SentencePieceTokenizer(model_type=model_type, vocab_size=500).fit([python_source], tmp_path)
    tok = SentencePieceTokenizer(model_type=model_type, vocab_size=500, sampling_alpha=alpha)
    tok.fit([python_source], tmp_path)
    assert tok.samples and not plain.samples
    assert tok.state_dict() == plain.state_dict()
    lines = [line for line in python_source.splitlines() if len(line) > 20][:20]
    first = [tok.encode_sampled(line, seed).tolist() for seed, line in enumerate(lines)]
    tok.encode_sampled(lines[0], 999)  # a draw in between
    again = [tok.encode_sampled(line, seed).tolist() for seed, line in enumerate(lines)]
    assert first == again
    assert all(tok.detokenize(ids) == line for ids, line in zip(first, lines, strict=True))
    best = [plain.encode(line).tolist() for line in lines]
    assert [tok.encode(line).tolist() for line in lines] == best
    assert sum(ids != b for ids, b in zip(first, best, strict=True)) >= 5
    other_seeds = [tok.encode_sampled(lines[0], seed).tolist() for seed in range(100, 120)]
    assert len({tuple(ids) for ids in other_seeds}) > 1
    assert plain.encode_sampled(lines[0], 5).tolist() == best[0]  # no sampling: the best one


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"sampling_alpha": 0, "model_type": "unigram"},
            r"^sampling_alpha 0: expected a number above 0 \(or null",
        ),
        (
            {"sampling_alpha": -0.5, "model_type": "unigram"},
            r"^sampling_alpha -0.5: expected a number above 0",
        ),
        (
            {"sampling_alpha": True, "model_type": "unigram"},
            r"^sampling_alpha True: expected a number above 0",
        ),
        ({"sampling_alpha": 1.0, "model_type": "bpe"}, r"^sampling_alpha 1.0: expected a merge-dropout"),
        ({"sampling_alpha": 0.1, "sampling_nbest": 1}, r"^sampling_nbest 1: expected -1 \(every"),
        ({"sampling_alpha": 0.1, "sampling_nbest": 0}, r"^sampling_nbest 0: expected -1 \(every"),
    ],
)
def test_sentencepiece_bad_sampling_settings_are_refused(
    settings: dict, message: str, python_source: str, tmp_path: Path
) -> None:
    """Refused when fitted, before any training, naming the setting and what it takes."""
    with pytest.raises(DataError, match=message):
        SentencePieceTokenizer(vocab_size=500, **settings).fit([python_source], tmp_path)
    assert not list(tmp_path.rglob("*.model"))
