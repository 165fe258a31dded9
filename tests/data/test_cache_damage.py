"""A cache file that cannot be read (cut short by a full disk or a copy) is built again with a warning;
it was a pyarrow or torch traceback that stopped the run until the user found and removed the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.data import LanguageModelData, SentencePieceTokenizer, SpeechData, SpeechManifests, TextFiles
from seqlab.data.errors import DataError
from tests.data.speech_helpers import write_manifest, write_wav


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def test_language_model_encoded_cache_cut_short_is_built_again(tiny_corpus: dict[str, Path], tmp_path: Path):
    corpus = TextFiles(train=str(tiny_corpus["train"]), validation=str(tiny_corpus["validation"]))
    first = LanguageModelData(corpus, batch_size=4, seq_len=16, cache_dir=str(tmp_path))
    ids = first.encoded("train")
    (cached,) = (tmp_path / "encoded").glob("train-*.arrow")
    cut_short(cached)
    again = LanguageModelData(corpus, batch_size=4, seq_len=16, cache_dir=str(tmp_path))
    with pytest.warns(
        UserWarning, match=rf"{cached.name}: cache file unreadable \(.*\); removed and built again"
    ):
        rebuilt = again.encoded("train")
    assert torch.equal(rebuilt, ids)
    assert cached.stat().st_size > 0 and LanguageModelData(corpus, cache_dir=str(tmp_path)).encoded(
        "train"
    ).equal(ids)


def test_speech_feature_cache_cut_short_is_built_again(tmp_path: Path):
    clips = [write_wav(tmp_path / f"{i}.wav", 0.3 + 0.1 * i, hz=300 + 100 * i) for i in range(3)]
    train = write_manifest(tmp_path / "train.jsonl", [{"audio": c.name, "text": "ab"} for c in clips])
    valid = write_manifest(tmp_path / "valid.jsonl", [{"audio": "0.wav", "text": "ba"}])

    def data() -> SpeechData:
        return SpeechData(
            SpeechManifests(str(train), str(valid)), batch_size=2, num_mel_bins=40, cache_dir=tmp_path
        )

    first = data()
    first.setup()
    features = first.splits["train"].features.clone()
    cut_short(first.feature_file("train"))
    again = data()
    with pytest.warns(UserWarning, match=r"\.pt: cache file unreadable \(.*\); removed and built again"):
        again.setup()
    assert torch.equal(again.splits["train"].features, features)


def test_sentencepiece_model_cut_short_is_trained_again_and_a_users_bad_model_is_named(tmp_path: Path):
    texts = ["the cat sat on the mat and the dog sat on the log"] * 20
    first = SentencePieceTokenizer(vocab_size=300).fit(texts, tmp_path)
    (cached,) = (tmp_path / "sentencepiece").glob("*.model")
    cut_short(cached)
    with pytest.warns(UserWarning, match=r"\.model: cache file unreadable"):
        again = SentencePieceTokenizer(vocab_size=300).fit(texts, tmp_path)
    assert list(again.encode(texts[0])) == list(first.encode(texts[0]))
    mine = tmp_path / "mine.model"  # a user's model file that is not one
    mine.write_bytes(b"not a model")
    with pytest.raises(DataError, match=r"mine\.model: not a sentencepiece model"):
        SentencePieceTokenizer(model_file=str(mine)).fit(texts, tmp_path)
