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
from seqlab.data.tokenizers.speech_alphabet import Alphabet, normalize_text, scoring_text
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


def test_word_targets_are_one_symbol_per_word(corpus_cache: Path) -> None:
    """targets=words: the symbols are the normalised words, a transcript encodes to one id per word
    and decodes with single spaces; a word unseen in training is dropped from the ids and counted,
    and the reference still holds it (scored as an error); there is no separator symbol."""
    alphabet = Alphabet.fit(["Zero", "one  two", "two"], "words")
    assert alphabet.symbols == ["one", "two", "zero"] and alphabet.size == 4
    assert alphabet.encode(" Two zero\tFIVE ") == [2, 3] and alphabet.unknown == {"five": 1}
    assert alphabet.detokenize([0, 2, 0, 3]) == "two zero" and alphabet.word_separator is None
    assert scoring_text(" Two zero\tFIVE ", "words") == "two zero five"
    assert Alphabet.from_state(alphabet.state_dict()).symbols == alphabet.symbols
    with pytest.raises(DataError, match="'characters', 'phonemes', 'words'"):
        Alphabet([], "letters")  # type: ignore[arg-type]
    data = builtin(corpus_cache, targets="words", spec_augment=False)
    words = {w for text in data.raw["train"].texts for w in normalize_text(text).split()}
    assert set(data.alphabet.symbols) == words
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))
    for row, text in enumerate(batch["texts"]):
        n = int(batch["target_lengths"][row])
        known = [w for w in normalize_text(text).split() if w in data.alphabet.ids]
        assert data.alphabet.detokenize(batch["targets"][row, :n].tolist()).split() == known


def test_speed_perturbation_reads_each_utterance_at_a_drawn_speed(tmp_path: Path) -> None:
    """speed_perturbation [0.9, 1.1]: training features are cached once more per speed (the clip
    played 1/0.9 and 1/1.1 times as long, pitch shifted with it), each epoch reads every utterance at
    one of the three speeds, drawn by (seed, epoch, utterance) so that a rerun draws the same; batches
    are bucketed by the original lengths; validation is never perturbed; the unperturbed cache is the
    one a run without perturbation uses, and bad speeds are refused by key."""
    clips = [write_wav(tmp_path / f"{i}.wav", 0.5 + 0.1 * i, hz=300 + 100 * i) for i in range(4)]
    rows = [{"audio": c.name, "text": t} for c, t in zip(clips, ["ab", "ba", "abba", "b"], strict=True)]
    train = write_manifest(tmp_path / "train.jsonl", rows)
    valid = write_manifest(tmp_path / "valid.jsonl", [{"audio": "0.wav", "text": "ab"}])

    def build(**kwargs: object) -> SpeechData:
        source = SpeechManifests(str(train), str(valid))
        return SpeechData(source, batch_size=2, num_mel_bins=40, spec_augment=False, **kwargs)  # type: ignore[arg-type]

    plain = build()
    plain.prepare_data()
    data = build(speed_perturbation=[0.9, 1.1])
    data.prepare_data()
    cached = sorted(p.name for p in (tmp_path / "cache" / "speech-features").glob("*.pt"))
    assert len(cached) == 4 and data.feature_file("train") == plain.feature_file("train")
    data.setup("fit")
    split = data.splits["train"]
    copies = [split.cached, *split.perturbed]
    for i, base in enumerate(split.lengths):
        slow, fast = split.perturbed[0].lengths[i], split.perturbed[1].lengths[i]
        assert abs(slow - base / 0.9) <= 2 and abs(fast - base / 1.1) <= 2
    drawn = {
        (epoch, i): next(c for c, copy in enumerate(copies) if torch.equal(split[(epoch, i)][1], copy[i]))
        for epoch in range(12)
        for i in range(4)
    }
    assert set(drawn.values()) == {0, 1, 2}
    assert all(len({drawn[(e, i)] for e in range(12)}) > 1 for i in range(4))  # changes across epochs
    assert all(torch.equal(split[key][1], copies[c][key[1]]) for key, c in drawn.items())  # repeatable
    val = data.splits["validation"]
    assert not val.perturbed and torch.equal(val[(3, 0)][1], val.cached[0])
    for bad in ([1.0], [0.9, 0.9], [3.0], ["fast"]):
        with pytest.raises(DataError, match=r"data\.speed_perturbation"):
            build(speed_perturbation=bad)
