"""Commands that write a file (``seqlab predict|decode|transcribe --output``) never write over what they
read (an input, an audio file a manifest lists, the checkpoint), replace an existing file only when
asked to (``--overwrite true``), and never leave a half-written or changed file behind when they fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from seqlab.cli import main
from tests.data.speech_helpers import write_manifest, write_wav
from tests.reliability.file_systems import permission_bits_apply, small_file_system
from tests.reliability.trained_checkpoints import trained_checkpoints

TEXTS = "a joy to watch\ndull and slow\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return trained_checkpoints(tmp_path_factory)


def own_run(checkpoint: Path) -> Path:
    """A copy of a trained run (``run/checkpoints/best.ckpt``) in the working directory, so that a
    command that wrongly writes over it cannot spoil the shared one."""
    target = Path("run/checkpoints/best.ckpt")
    target.parent.mkdir(parents=True)
    shutil.copyfile(checkpoint, target)
    return target


def refused(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """The error line of a command that must stop with exit code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def stdout_of(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    capsys.readouterr()
    main(args)
    return capsys.readouterr().out


def test_predict_and_decode_never_write_over_the_checkpoint(trained, capsys):
    """The checkpoint a run directory resolves to, a hard link to it and a symbolic link to it are
    all the checkpoint being read, --overwrite or not; its bytes stay as they were."""
    ckpt = own_run(trained["classifier"])
    before = ckpt.read_bytes()
    Path("input.txt").write_text(TEXTS, encoding="utf-8")
    os.link(ckpt, "hard.ckpt")
    os.symlink(ckpt.resolve(), "soft.ckpt")
    for output, extra in ((str(ckpt), []), ("hard.ckpt", ["--overwrite", "true"]), ("soft.ckpt", [])):
        line = refused(
            capsys, ["predict", "--ckpt_path", "run", "--input", "input.txt", "--output", output, *extra]
        )
        assert (
            line
            == f"seqlab predict: error: --output {output} is the checkpoint being read; choose another path"
        )
        assert ckpt.read_bytes() == before

    decoder = Path("decoder.ckpt")
    shutil.copyfile(trained["encoder_decoder"], decoder)
    kept = decoder.read_bytes()
    args = ["decode", "--ckpt_path", str(decoder.resolve()), "--input", "input.txt"]
    line = refused(capsys, [*args, "--output", "./decoder.ckpt", "--overwrite", "true"])
    assert (
        line
        == "seqlab decode: error: --output ./decoder.ckpt is the checkpoint being read; choose another path"
    )
    assert decoder.read_bytes() == kept


def test_transcribe_never_writes_over_its_audio(trained, capsys):
    """`--input a.wav b.wav --output b.wav` and an --output that a manifest lists (spelled another
    way) are refused, even with --overwrite true; the audio is untouched."""
    ckpt = str(trained["speech"])
    a, b = write_wav(Path("a.wav"), 0.3, hz=400.0), write_wav(Path("b.wav"), 0.3, hz=1000.0)
    audio = b.read_bytes()
    line = refused(
        capsys, ["transcribe", "--ckpt_path", ckpt, "--input", str(a), str(b), "--output", "b.wav"]
    )
    assert (
        line
        == "seqlab transcribe: error: --output b.wav is one of the inputs being read; choose another path"
    )
    manifest = write_manifest(
        Path("list.jsonl"), [{"audio": "a.wav", "text": "a"}, {"audio": "b.wav", "text": "b"}]
    )
    args = ["transcribe", "--ckpt_path", ckpt, "--input", str(manifest), "--output", f"{Path.cwd()}/./b.wav"]
    line = refused(capsys, [*args, "--overwrite", "true"])
    assert "is one of the inputs being read; choose another path" in line
    line = refused(
        capsys, ["transcribe", "--ckpt_path", ckpt, "--input", str(manifest), "--output", str(manifest)]
    )
    assert "--output list.jsonl is one of the inputs being read" in line
    assert b.read_bytes() == audio and manifest.read_text().count("wav") == 2


def test_existing_output_is_replaced_only_with_overwrite(trained, capsys):
    """A file the command did not write is kept unless --overwrite true; then it holds exactly what
    the command prints to standard output."""
    ckpt = str(trained["classifier"])
    Path("input.txt").write_text(TEXTS, encoding="utf-8")
    Path("out.tsv").write_text("my notes\n", encoding="utf-8")
    args = ["predict", "--ckpt_path", ckpt, "--input", "input.txt", "--output", "out.tsv"]
    line = refused(capsys, args)
    assert line == "seqlab predict: error: --output out.tsv exists; pass --overwrite true to replace it"
    assert Path("out.tsv").read_text(encoding="utf-8") == "my notes\n"

    printed = stdout_of(capsys, ["predict", "--ckpt_path", ckpt, "--input", "input.txt"])
    assert len(printed.splitlines()) == 2
    assert stdout_of(capsys, [*args, "--overwrite", "true"]) == ""
    assert Path("out.tsv").read_text(encoding="utf-8") == printed

    wav = write_wav(Path("a.wav"), 0.3)
    Path("t.tsv").write_text("keep\n", encoding="utf-8")
    line = refused(
        capsys,
        ["transcribe", "--ckpt_path", str(trained["speech"]), "--input", str(wav), "--output", "t.tsv"],
    )
    assert line == "seqlab transcribe: error: --output t.tsv exists; pass --overwrite true to replace it"
    assert Path("t.tsv").read_text(encoding="utf-8") == "keep\n"


def test_failure_midway_leaves_earlier_files_as_they_were(trained, capsys):
    """Decoding stops at an empty line 3 after lines 1-2 were written: the earlier out.txt keeps its
    bytes, no temporary file is left, and a user's own `out.txt.partial` is not touched."""
    ckpt = str(trained["encoder_decoder"])
    Path("words.txt").write_text("cat\ndog\n\ntea\n", encoding="utf-8")
    Path("out.txt").write_text("earlier output\n", encoding="utf-8")
    Path("out.txt.partial").write_text("a user's file\n", encoding="utf-8")
    args = ["decode", "--ckpt_path", ckpt, "--input", "words.txt", "--output", "out.txt", "--batch_size", "1"]
    line = refused(capsys, [*args, "--overwrite", "true"])
    assert "words.txt:3" in line
    assert Path("out.txt").read_text(encoding="utf-8") == "earlier output\n"
    assert Path("out.txt.partial").read_text(encoding="utf-8") == "a user's file\n"
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["out.txt", "out.txt.partial", "words.txt"]


def test_output_that_cannot_be_a_file(trained, capsys):
    """A directory, or a path below a file, is refused by name instead of an IsADirectoryError or
    NotADirectoryError traceback."""
    ckpt = str(trained["classifier"])
    Path("input.txt").write_text(TEXTS, encoding="utf-8")
    Path("results").mkdir()
    Path("notes.txt").write_text("x\n", encoding="utf-8")
    base = ["predict", "--ckpt_path", ckpt, "--input", "input.txt", "--output"]
    assert refused(capsys, [*base, "results", "--overwrite", "true"]) == (
        "seqlab predict: error: --output results is a directory; give a file path"
    )
    assert refused(capsys, [*base, "notes.txt/out.tsv"]) == (
        "seqlab predict: error: --output notes.txt/out.tsv: notes.txt is a file, not a directory"
    )
    assert Path("notes.txt").read_text(encoding="utf-8") == "x\n"


def test_output_where_no_file_can_be_made_is_refused_before_the_model_runs(trained, capsys):
    """A folder that takes no new file (/proc; a read-only folder, for root too) is one line naming it,
    before any prediction (it was `[Errno 2] No such file or directory: '/proc/.x.txt...partial'` after
    the model had run); a missing folder below a writable one is still made."""
    ckpt = str(trained["classifier"])
    Path("input.txt").write_text(TEXTS, encoding="utf-8")
    base = ["predict", "--ckpt_path", ckpt, "--input", "input.txt", "--output"]
    assert refused(capsys, [*base, "/proc/seqlab/out.tsv"]) == (
        "seqlab predict: error: --output /proc/seqlab/out.tsv: cannot create a file in /proc "
        "(No such file or directory)"
    )
    Path("locked").mkdir(mode=0o555)
    with permission_bits_apply():
        line = refused(capsys, [*base, "locked/new/out.tsv"])
    assert line == (
        "seqlab predict: error: --output locked/new/out.tsv: cannot create a file in locked "
        "(Permission denied)"
    )
    assert list(Path("locked").iterdir()) == []
    stdout_of(capsys, [*base, "made/below/out.tsv"])
    assert len(Path("made/below/out.tsv").read_text(encoding="utf-8").splitlines()) == 2


def test_a_full_disk_is_named_and_keeps_earlier_outputs(trained, capsys, tmp_path):
    """`seqlab export` and `seqlab predict --output` onto a file system with no room left: one line
    each that says so (export blamed the model: "did not export to onnx: OSError: [Errno 28]"), no
    work file or folder left behind, and an earlier output replaced with --overwrite is as it was."""
    ckpt = str(trained["classifier"])
    Path("input.txt").write_text(TEXTS * 2000, encoding="utf-8")
    with small_file_system(tmp_path / "small", "64k") as small:
        (small / "out.tsv").write_text("earlier output\n", encoding="utf-8")
        (small / "filler").write_bytes(b"\0" * (shutil.disk_usage(small).free - 8192))
        exported = refused(capsys, ["export", "--ckpt_path", ckpt, "--output", str(small / "model")])
        assert (
            exported
            == f"seqlab: error: {small / 'model'}: no space left on its file system; nothing was written"
        )
        predicted = refused(
            capsys,
            [
                "predict",
                "--ckpt_path",
                ckpt,
                "--input",
                "input.txt",
                "--output",
                str(small / "out.tsv"),
                "--overwrite",
                "true",
            ],
        )
        assert predicted.startswith(
            f"seqlab: error: {small / 'out.tsv'}: no space left on its file system after "
        )
        assert predicted.endswith("; the earlier file is as it was")
        assert (small / "out.tsv").read_text(encoding="utf-8") == "earlier output\n"
        assert sorted(p.name for p in small.iterdir()) == ["filler", "out.tsv"]
