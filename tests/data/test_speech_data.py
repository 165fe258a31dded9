"""The speech DataModule: batches of the documented shapes, feature cache, SpecAugment in training only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.modules import speech as speech_module
from seqlab.data.modules.speech import SpeechData
from seqlab.data.modules.speech_features import FeatureSettings, compute_features
from seqlab.data.sources.speech import BuiltinSpeech, HubSpeech, SpeechManifests
from seqlab.data.tokenizers.speech_alphabet import Alphabet, normalize_text
from tests.data.speech_helpers import write_manifest, write_wav


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-corpus")


def builtin(corpus_cache: Path, **kwargs: object) -> SpeechData:
    source = BuiltinSpeech(sizes=(24, 6, 6), seed=1, cache_dir=str(corpus_cache))
    return SpeechData(source, batch_size=4, **kwargs)  # type: ignore[arg-type]


def check_batch(batch: dict, data: SpeechData, augmented: bool) -> None:
    b, t, f = batch["features"].shape
    assert f == data.num_features == 80 and batch["features"].dtype == torch.float32
    lengths, targets, target_lengths = batch["feature_lengths"], batch["targets"], batch["target_lengths"]
    assert lengths.shape == target_lengths.shape == (b,) and lengths.max() == t
    assert len(batch["texts"]) == len(batch["ids"]) == b
    for row in range(b):
        n, s = int(lengths[row]), int(target_lengths[row])
        assert batch["features"][row, n:].abs().sum() == 0  # zero padding past the length
        assert (targets[row, :s] > 0).all() and (targets[row, s:] == 0).all()  # no blank inside
        known = "".join(c for c in normalize_text(batch["texts"][row]) if c in data.alphabet.ids)
        assert data.alphabet.detokenize(targets[row, :s].tolist()) == known  # unknown symbols dropped
        split = data.splits["train" if augmented else "validation"]
        cached = split.features[split.offsets[batch["ids"][row]] :][:n].float()
        assert torch.equal(batch["features"][row, :n], cached) != augmented


def test_builtin_batches(corpus_cache: Path) -> None:
    data = builtin(corpus_cache)
    assert data.vocab_size == len(data.alphabet.symbols) + 1 and data.alphabet.symbols[0] == " "
    data.prepare_data()
    data.setup("fit")
    train = list(data.train_dataloader())
    assert sum(len(b["ids"]) for b in train) == 24
    for batch in train:
        check_batch(batch, data, augmented=True)
    for batch in data.val_dataloader():
        check_batch(batch, data, augmented=False)
    again = list(data.train_dataloader())  # same epoch, same seed: same order and masks
    assert all(torch.equal(x["features"], y["features"]) for x, y in zip(train, again, strict=True))
    split = data.splits["train"]
    assert torch.equal(split[(0, 3)][1], split[(0, 3)][1]) and not torch.equal(
        split[(0, 3)][1], split[(1, 3)][1]
    )
    # batches hold similar durations: sorting by length within the pool
    spans = [int(b["feature_lengths"].max() - b["feature_lengths"].min()) for b in train]
    lengths = sorted(data.splits["train"].lengths)
    assert max(spans) <= lengths[-1] - lengths[0] and sum(spans) < (lengths[-1] - lengths[0]) * len(train) / 2


def test_phoneme_targets_and_state(corpus_cache: Path) -> None:
    data = builtin(corpus_cache, targets="phonemes", spec_augment=False)
    assert "|" in data.alphabet.symbols and all(" " not in s for s in data.alphabet.symbols)
    state = data.state_dict()
    assert Alphabet.from_state(state["tokenizer"]).symbols == data.alphabet.symbols
    assert FeatureSettings.from_state(state["features"]) == data.settings
    data.load_state_dict(state)
    with pytest.raises(ValueError, match="different alphabet"):
        builtin(corpus_cache).load_state_dict(state)


def test_feature_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clips = [write_wav(tmp_path / f"{i}.wav", 0.3 + 0.1 * i, hz=300 + 100 * i) for i in range(4)]
    rows = [{"audio": c.name, "text": t} for c, t in zip(clips, ["Ab", "ba", "Abba", "b"], strict=True)]
    train = write_manifest(tmp_path / "train.jsonl", rows)
    valid = write_manifest(tmp_path / "valid.jsonl", [{"audio": "0.wav", "text": "abc!"}])
    data = SpeechData(SpeechManifests(str(train), str(valid)), batch_size=2, num_mel_bins=40)
    assert data.alphabet.symbols == ["a", "b"] and data.encoded["validation"] == [[1, 2]]  # c, ! dropped
    data.prepare_data()
    data.setup()
    assert data.splits["train"].lengths == [
        len(compute_features(data.raw["train"].audio(i, 16000), data.settings)) for i in range(4)
    ]

    def fail(*args: object) -> None:
        raise AssertionError("features recomputed although cached")

    monkeypatch.setattr(speech_module, "compute_features", fail)
    again = SpeechData(SpeechManifests(str(train), str(valid)), batch_size=2, num_mel_bins=40)
    again.prepare_data()
    again.setup()
    batch = next(iter(again.val_dataloader()))
    assert batch["features"].shape[-1] == 40 and batch["texts"] == ["abc!"]
    other = SpeechData(SpeechManifests(str(train), str(valid)), batch_size=2, num_mel_bins=20)
    with pytest.raises(AssertionError, match="recomputed"):
        other.prepare_data()  # new settings: new features
    write_wav(clips[0], 0.5)  # re-recorded audio: new features
    changed = SpeechData(SpeechManifests(str(train), str(valid)), batch_size=2, num_mel_bins=40)
    with pytest.raises(AssertionError, match="recomputed"):
        changed.prepare_data()


def test_unreadable_audio_fails_naming_the_line(tmp_path: Path) -> None:
    write_wav(tmp_path / "ok.wav", 0.3)
    (tmp_path / "bad.wav").write_bytes(b"RIFF garbage")
    train = write_manifest(
        tmp_path / "t.jsonl", [{"audio": "ok.wav", "text": "a"}, {"audio": "bad.wav", "text": "b"}]
    )
    data = SpeechData(SpeechManifests(str(train), str(train)))
    with pytest.raises(DataError, match=r"t\.jsonl:2: .*bad\.wav: cannot read the audio"):
        data.prepare_data()
    assert not list((tmp_path / "cache" / "speech-features").glob("*"))  # nothing half-written


def test_hub_dataset_from_local_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    clips = [str(write_wav(tmp_path / f"{i}.wav", 0.4, rate=8000)) for i in range(3)]
    table = datasets.Dataset.from_dict({"audio": clips, "sentence": ["yes", "no", "yes no"]})
    table = table.cast_column("audio", datasets.Audio())
    datasets.DatasetDict({"train": table, "validation": table.select([0])}).save_to_disk(tmp_path / "hub")
    source = HubSpeech(str(tmp_path / "hub"), text_column="sentence")
    data = SpeechData(source, batch_size=3, spec_augment=False)
    assert data.alphabet.symbols == [" ", "e", "n", "o", "s", "y"]
    data.prepare_data()
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch["features"].shape == (3, 38, 80)  # 0.4 s resampled to 16 kHz
    with pytest.raises(DataError, match="no column 'text'"):
        HubSpeech(str(tmp_path / "hub")).load()
