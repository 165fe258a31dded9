"""Speech manifests and audio reading: every error names the manifest file and line (or the audio file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from seqlab.data.errors import DataError
from seqlab.data.formats.audio import load_audio
from seqlab.data.formats.speech_manifest import manifest_audio_paths, read_manifest
from seqlab.data.sources.speech import ManifestSplit, SpeechManifests
from tests.data.speech_helpers import write_manifest, write_wav
from tests.shared_data import shared_file


def test_reads_entries_and_resolves_paths_against_the_manifest_folder(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "corpus" / "clips" / "a.wav", 0.5)
    manifest = write_manifest(
        tmp_path / "corpus" / "train.jsonl",
        [{"audio": "clips/a.wav", "text": "Hello", "duration": 0.5}, "", {"audio": str(wav), "text": "x"}],
    )
    utterances = read_manifest(manifest)
    assert [u.text for u in utterances] == ["Hello", "x"]
    assert utterances[0].audio == str(wav.resolve())
    assert utterances[0].duration == 0.5
    assert utterances[1].where == f"{manifest}:3"  # the blank line 2 is skipped, line numbers are kept
    assert manifest_audio_paths(manifest) == [str(wav.resolve()), str(wav)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"audio": "a.wav", "text": "ok"', "invalid JSON"),
        ('["a.wav", "hi"]', "a JSON list; expected one JSON object per line"),
        ('{"audio": "a.wav"}', "no 'text' key"),
        ('{"text": "hi"}', "no 'audio' key"),
        ('{"audio": "a.wav", "text": 7}', "'text' must be a string"),
        ('{"audio": "missing.wav", "text": "hi"}', "missing.wav not found"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    write_wav(tmp_path / "a.wav", 0.2)
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": "a.wav", "text": "fine"}, line])
    with pytest.raises(DataError, match=message) as err:
        read_manifest(manifest)
    assert f"{manifest}:2:" in str(err.value)


def test_unreadable_audio_names_manifest_line_and_file(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"this is not audio at all" * 10)
    write_wav(tmp_path / "good.wav", 0.2)
    manifest = write_manifest(
        tmp_path / "m.jsonl", [{"audio": "good.wav", "text": "a"}, {"audio": "bad.wav", "text": "b"}]
    )
    split = ManifestSplit(read_manifest(manifest))  # listing is fine; decoding fails
    assert split.audio(0, 16000).shape == (3200,)
    with pytest.raises(DataError, match="cannot read the audio") as err:
        split.audio(1, 16000)
    assert f"{manifest}:2:" in str(err.value) and "bad.wav" in str(err.value)


def test_a_wav_file_cut_short_is_refused_by_name(tmp_path: Path) -> None:
    """A WAV file shorter than its header says (an interrupted copy) is refused, from a file or from
    bytes: libsndfile decodes what is there without a word, and transcribed it as if it were whole. A
    header with an unknown size (0 or 0xFFFFFFFF, from streaming recorders) is read as it is."""
    whole = write_wav(tmp_path / "whole.wav", 0.5)
    data = whole.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:1000])
    message = (
        rf"cut\.wav: the file has 1,000 bytes, its WAV header says {len(data):,} \(a copy or download cut"
    )
    with pytest.raises(DataError, match=message):
        load_audio(tmp_path / "cut.wav", 16000)
    with pytest.raises(DataError, match="<audio bytes>: the file has 1,000 bytes"):
        load_audio(data[:1000], 16000)
    streamed = data[:4] + (0xFFFFFFFF).to_bytes(4, "little") + data[8:1000]
    assert load_audio(streamed, 16000).size > 0
    assert load_audio(whole, 16000).size == 8000


def test_empty_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no utterances"):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_audio_file_direct(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.wav: no such audio file"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_resampling_and_stereo(tmp_path: Path) -> None:
    wave = load_audio(write_wav(tmp_path / "a.wav", 1.5, rate=8000), 16000)
    assert wave.dtype == np.float32 and wave.shape == (24000,)
    # a 440 Hz tone stays a 440 Hz tone: count zero crossings over the 1.5 s
    assert abs(np.sum(np.diff(np.sign(wave)) != 0) / 2 / 1.5 - 440) < 3
    stereo = tmp_path / "s.wav"
    left, right = np.full(1600, 0.5, np.float32), np.full(1600, -0.1, np.float32)
    soundfile.write(stereo, np.stack([left, right], axis=1), 16000)
    assert np.allclose(load_audio(stereo, 16000), 0.2, atol=1e-3)


def test_fsdd_tsv_manifests_read_as_distributed() -> None:
    """The Free Spoken Digit Dataset's TSV lists (``path digit transcript speaker index``, paths
    relative to the TSV's folder) read as they are: the official 2,700/300 take split (validation held
    out of train, as FSDD has none), transcripts from the ``transcript`` column, and 8 kHz audio
    resampled to the features' 16 kHz."""
    train, test = shared_file("speech/train.tsv"), shared_file("speech/test.tsv")
    splits = SpeechManifests(str(train), test=str(test), validation_fraction=0.1).load()
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes["train"] + sizes["validation"] == 2700 and sizes["test"] == 300
    assert 200 < sizes["validation"] < 340  # a seeded ~10% hold-out
    held_out = set(splits["validation"].wheres)
    assert not held_out & set(splits["train"].wheres)
    first = read_manifest(train)[0]
    assert (first.audio, first.text, first.where) == (
        str(train.resolve().parent / "recordings" / "0_george_10.wav"),
        "zero",
        f"{train}:2",
    )
    assert soundfile.info(first.audio).samplerate == 8000
    at_8k, at_16k = splits["train"].audio(0, 8000), splits["train"].audio(0, 16000)
    assert at_16k.dtype == np.float32 and len(at_16k) == 2 * len(at_8k)


def test_table_manifest_columns_chosen_by_name(tmp_path: Path) -> None:
    """A CSV with other column names reads once they are named; phonemes and durations come from
    their columns when present (an empty cell is no value)."""
    write_wav(tmp_path / "clips" / "a.wav", 0.2)
    (tmp_path / "m.csv").write_text(
        'file,sentence,phonemes,duration\nclips/a.wav,"hello, you",HH AH0,0.2\nclips/a.wav,bye,,\n',
        encoding="utf-8",
    )
    utterances = read_manifest(tmp_path / "m.csv", audio_column="file", text_column="sentence")
    assert [(u.text, u.phonemes, u.duration) for u in utterances] == [
        ("hello, you", "HH AH0", 0.2),
        ("bye", None, None),
    ]


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("path\tdigit\na.wav\t0\n", {}, r"m.tsv:1: no text column \(looked for 'text' or 'transcript'\)"),
        ("file\ttext\na.wav\thi\n", {}, r"m.tsv:1: no audio column \(looked for 'audio' or 'path'\)"),
        ("path\ttext\na.wav\thi\n", {"text_column": "words"}, r"m.tsv:1: no text column 'words'"),
        ("path\ttext\na.wav\thi\na.wav\n", {}, r"m.tsv:3: 1 field; expected 2 as in the header"),
        ("path\ttext\na.wav\thi\nb.wav\tho\n", {}, r"m.tsv:3: audio file .*b.wav not found"),
        ("path\ttext\tduration\na.wav\thi\tlong\n", {}, r"m.tsv:2: 'duration' must be a positive"),
        ("path\ttext\n", {}, r"m.tsv: no utterances \(only a header row"),
        ("", {}, r"m.tsv: no utterances \(the file is empty"),
    ],
)
def test_table_manifest_errors_name_file_and_line(
    tmp_path: Path, content: str, kwargs: dict, message: str
) -> None:
    """A missing or misnamed column (named by the header line), a short row, a missing audio file,
    a bad duration, a header without rows and an empty file are DataErrors naming file and line."""
    write_wav(tmp_path / "a.wav", 0.2)
    (tmp_path / "m.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_manifest(tmp_path / "m.tsv", **kwargs)


def test_table_manifest_default_columns_in_title_case(tmp_path: Path) -> None:
    """A spreadsheet's `Path,Transcript` header reads without naming the columns; a column named in
    the wrong case is refused with the spelling the header has."""
    write_wav(tmp_path / "a.wav", 0.2)
    (tmp_path / "m.csv").write_text("Path,Transcript\na.wav,hello\n", encoding="utf-8")
    utterances = read_manifest(tmp_path / "m.csv")
    assert [(u.audio, u.text) for u in utterances] == [(str(tmp_path / "a.wav"), "hello")]
    hint = r"no text column 'transcript'; .* \(names are case-sensitive: 'Transcript'\?\)"
    with pytest.raises(DataError, match=hint):
        read_manifest(tmp_path / "m.csv", text_column="transcript")


def test_audio_to_transcribe_needs_no_transcript_column(tmp_path: Path) -> None:
    """What `seqlab transcribe --input` reads: a TSV with only a `path` column, or JSON Lines with only
    `audio`, lists its files in order; a missing audio column or file is still named with its line."""
    write_wav(tmp_path / "a.wav", 0.2)
    write_wav(tmp_path / "b.wav", 0.2)
    (tmp_path / "m.tsv").write_text("path\tspeaker\nb.wav\tx\na.wav\ty\n", encoding="utf-8")
    assert manifest_audio_paths(tmp_path / "m.tsv") == [str(tmp_path / "b.wav"), str(tmp_path / "a.wav")]
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav"}\n', encoding="utf-8")
    assert manifest_audio_paths(tmp_path / "m.jsonl") == [str(tmp_path / "a.wav")]
    with pytest.raises(DataError, match=r"m.jsonl:1: no 'text' key"):
        read_manifest(tmp_path / "m.jsonl")  # training needs the transcript
    with pytest.raises(DataError, match=r"m.tsv:1: no text column"):
        read_manifest(tmp_path / "m.tsv")
    (tmp_path / "bad.tsv").write_text("file\na.wav\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:1: no audio column"):
        manifest_audio_paths(tmp_path / "bad.tsv")
    (tmp_path / "gone.jsonl").write_text('{"audio": "a.wav"}\n{"audio": "c.wav"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"gone.jsonl:2: audio file .*c.wav not found"):
        manifest_audio_paths(tmp_path / "gone.jsonl")
