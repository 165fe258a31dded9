"""`seqlab transcribe` round trip: `seqlab fit` a tiny CTC model on synthetic tone "speech" (each letter a
tone of its own pitch), then transcribe WAV files and a manifest from the checkpoint alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from seqlab.cli import main
from seqlab.inference.options import OutputFile, TrainedModel, parse_verb_options
from seqlab.inference.transcribe import TranscribeSettings

RATE = 16000
PITCH = {"a": 400.0, "b": 1000.0, "c": 2500.0}


def letters_wav(path: Path, text: str) -> Path:
    """Each letter 0.12 s of its tone, then 0.06 s of silence; a little noise throughout."""
    pieces = []
    for letter in text:
        t = np.arange(int(0.12 * RATE)) / RATE
        pieces += [0.5 * np.sin(2 * np.pi * PITCH[letter] * t), np.zeros(int(0.06 * RATE))]
    wave = np.concatenate([np.zeros(int(0.05 * RATE)), *pieces])
    wave += 0.003 * np.random.default_rng(len(text) * 7 + ord(text[0])).standard_normal(len(wave))
    soundfile.write(path, wave.astype(np.float32), RATE)
    return path


def corpus(folder: Path) -> dict[str, Path]:
    """Manifests of every 1-3 letter word over "abc" (train) and a held-out few (validation)."""
    folder.mkdir()
    words = ["".join("abc"[int(i)] for i in w) for n in (1, 2, 3) for w in np.ndindex(*(3,) * n)]
    out = {}
    for split, chosen in {"train": words, "validation": words[::5]}.items():
        rows = []
        for n, word in enumerate(chosen):
            letters_wav(folder / f"{split}{n}.wav", word)
            rows.append(json.dumps({"audio": f"{split}{n}.wav", "text": word}))
        out[split] = folder / f"{split}.jsonl"
        out[split].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


CONFIG = """
seed_everything: 7
run: {{name: tones, wandb: {{mode: disabled}}}}
trainer:
  max_steps: 240
  check_val_every_n_epoch: 20
  log_every_n_steps: 10
  enable_progress_bar: false
  enable_model_summary: false
model:
  class_path: seqlab.tasks.speech.SpeechRecognitionTask
  init_args:
    net:
      cell: gru
      hidden_size: 32
      num_layers: 2
      dropout: 0.0
      subsampling: stack
      subsampling_factor: 3
    optimizer: {{class_path: torch.optim.AdamW, init_args: {{lr: 0.01}}}}
data:
  class_path: seqlab.data.SpeechData
  init_args:
    source:
      class_path: seqlab.data.SpeechManifests
      init_args: {{train: {train}, validation: {validation}}}
    num_mel_bins: 16
    spec_augment: false
    batch_size: 8
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """A run directory trained on the tone corpus (once for this file's tests)."""
    root = tmp_path_factory.mktemp("transcribe")
    files = corpus(root / "tones")
    config = root / "tones.yaml"
    config.write_text(CONFIG.format(**{k: str(v) for k, v in files.items()}), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("SEQLAB_CACHE", str(root / "cache"))
        main(["fit", "--config", str(config)])
    (run,) = (root / "runs" / "tones").glob("version_*")
    return run, files


def test_transcribe_files_and_manifest(trained, capsys, tmp_path):
    run, files = trained
    wavs = [letters_wav(tmp_path / f"{w}.wav", w) for w in ("cab", "a", "bb", "acc")]
    main(["transcribe", "--ckpt_path", str(run), "--input", *map(str, wavs)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(w) for w in wavs]
    transcripts = [line.split("\t")[1] for line in lines]
    assert sum(t == w for t, w in zip(transcripts, ["cab", "a", "bb", "acc"], strict=True)) >= 3, lines
    # A manifest: its audio paths in order (resolved against the manifest's folder), same transcripts.
    main(
        [
            "transcribe",
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            "--input",
            str(files["validation"]),
        ]
    )
    listed = capsys.readouterr().out.splitlines()
    entries = [json.loads(line) for line in files["validation"].read_text().splitlines()]
    assert [line.split("\t")[0] for line in listed] == [
        str(files["validation"].parent / e["audio"]) for e in entries
    ]
    right = sum(line.split("\t")[1] == e["text"] for line, e in zip(listed, entries, strict=True))
    assert right >= len(entries) - 1, listed
    # Beam search to a file gives what greedy printed (peaked posteriors), batch size 1 too.
    out = tmp_path / "out.tsv"
    main(
        [
            "transcribe",
            f"--ckpt_path={run}",
            f"--input={wavs[0]}",
            "--beam_size=4",
            "--batch_size=1",
            f"--output={out}",
        ]
    )
    assert out.read_text().splitlines() == lines[:1]


def test_transcribe_missing_file_is_a_clear_error(trained, capsys, tmp_path):
    run, _ = trained
    good = letters_wav(tmp_path / "ab.wav", "ab")
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--ckpt_path", str(run), "--input", str(good), str(tmp_path / "nope.wav")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "seqlab: error:" in err and "nope.wav" in err
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    with pytest.raises(SystemExit):
        main(
            [
                "transcribe",
                "--ckpt_path",
                str(run),
                "--input",
                str(broken),
                "--output",
                str(tmp_path / "o.tsv"),
            ]
        )
    assert "broken.wav" in capsys.readouterr().err
    assert not (tmp_path / "o.tsv").exists()


def test_several_inputs_parse_up_to_the_next_flag_and_a_bad_flag_is_named(capsys, tmp_path):
    """`--input a.wav b.wav --beam_size 2` reaches the files check with both files (the first is
    missing), and an unknown flag after the inputs is refused by name in one line, exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--ckpt_path", str(tmp_path), "--input", "a.wav", "b.wav", "--bogus", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "seqlab: error: unknown key --bogus (seqlab transcribe --help lists the keys)" in err
    argv = ["--input", "a.wav", "b.wav", "--beam_size", "2"]
    _, settings, _ = parse_verb_options(
        "transcribe", "", argv, (TrainedModel, TranscribeSettings, OutputFile), {"input"}
    )
    assert settings.input == ["a.wav", "b.wav"] and settings.beam_size == 2


def test_transcribe_a_tsv_manifest_as_training_reads_it(trained, capsys, tmp_path):
    """`--input list.tsv` (a table with a `path` column, as FSDD's lists; no transcript needed) gives
    the lines that the same files given one by one give."""
    run, _ = trained
    wavs = [letters_wav(tmp_path / f"{w}.wav", w) for w in ("cab", "bb")]
    main(["transcribe", "--ckpt_path", str(run), "--input", *map(str, wavs)])
    one_by_one = capsys.readouterr().out.splitlines()
    (tmp_path / "list.tsv").write_text("path\tspeaker\ncab.wav\tx\nbb.wav\ty\n", encoding="utf-8")
    main(["transcribe", "--ckpt_path", str(run), "--input", str(tmp_path / "list.tsv")])
    assert capsys.readouterr().out.splitlines() == one_by_one


def test_a_folder_is_its_audio_files_and_an_undecodable_file_is_not_called_missing(trained, capsys, tmp_path):
    """`--input FOLDER` transcribes the WAV/FLAC files in it by name (it said "no such audio file"), as
    if they were listed; a folder without any is named. An MP3-like file libsndfile cannot decode is
    "cannot decode", not libsndfile's "File does not exist" for a file that exists."""
    run, _ = trained
    folder = tmp_path / "takes"
    folder.mkdir()
    wavs = [letters_wav(folder / f"{w}.wav", w) for w in ("cab", "a", "bb")]
    (folder / "notes.txt").write_text("not audio\n", encoding="utf-8")
    (folder / "more").mkdir()
    main(["transcribe", "--ckpt_path", str(run), "--input", *map(str, sorted(wavs))])
    listed = capsys.readouterr().out
    main(["transcribe", "--ckpt_path", str(run), "--input", str(folder)])
    assert capsys.readouterr().out == listed and listed.count("\n") == 3
    for bad, message in (
        (folder / "more", "more: a folder without .wav or .flac files"),
        (folder / "song.mp3", "song.mp3: cannot read the audio (libsndfile cannot decode its content)"),
    ):
        if bad.suffix:
            bad.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4)
        with pytest.raises(SystemExit) as stopped:
            main(["transcribe", "--ckpt_path", str(run), "--input", str(bad)])
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and message in err and "does not exist" not in err
