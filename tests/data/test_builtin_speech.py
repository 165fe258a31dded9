"""The built-in eSpeak NG corpus: deterministic, disjoint words across splits, atomic cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from seqlab.data.builtin import speech as builtin_speech
from seqlab.data.builtin.speech import SpeechCorpusSettings, builtin_speech_corpus
from seqlab.data.formats.speech_manifest import read_manifest

TINY = SpeechCorpusSettings(sizes=(20, 5, 5), seed=3)


def digests(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def test_same_seed_same_bytes_and_disjoint_words(tmp_path: Path) -> None:
    first = builtin_speech_corpus(TINY, tmp_path / "a", workers=2)
    second = builtin_speech_corpus(TINY, tmp_path / "b", workers=1)  # shards do not depend on workers
    a, b = digests(first), digests(second)
    assert len([name for name in a if name.endswith(".wav")]) == 30
    assert a == b
    other = digests(builtin_speech_corpus(SpeechCorpusSettings(sizes=(20, 5, 5), seed=4), tmp_path / "a"))
    assert other["train.jsonl"] != a["train.jsonl"]

    words = {}
    for split in ("train", "validation", "test"):
        utterances = read_manifest(first / f"{split}.jsonl")
        assert len(utterances) == dict(zip(("train", "validation", "test"), TINY.sizes, strict=True))[split]
        assert all(u.phonemes and u.duration and u.duration > 0.1 for u in utterances)
        words[split] = {w for u in utterances for w in u.text.split()}
    assert not words["train"] & words["validation"] and not words["train"] & words["test"]
    assert not words["validation"] & words["test"]
    entries = [json.loads(line) for line in (first / "train.jsonl").read_text().splitlines()]
    assert len({e["voice"] for e in entries}) > 5  # varied voices, rates, noise
    assert len({e["rate"] for e in entries}) > 5 and len({e["snr_db"] for e in entries}) > 5


def test_existing_corpus_is_reused_and_a_failed_build_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SpeechCorpusSettings(sizes=(3, 1, 1), seed=9)

    def crash(*args: object) -> None:
        partial = args[1]
        assert isinstance(partial, Path)
        (partial / "train").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(builtin_speech, "build_corpus", crash)
    with pytest.raises(KeyboardInterrupt):
        builtin_speech_corpus(settings, tmp_path)
    assert list((tmp_path / "speech").iterdir()) == []
    monkeypatch.undo()
    folder = builtin_speech_corpus(settings, tmp_path)
    monkeypatch.setattr(builtin_speech, "build_corpus", crash)
    assert builtin_speech_corpus(settings, tmp_path) == folder  # complete: not rebuilt
