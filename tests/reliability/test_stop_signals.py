"""A verb stopped halfway (Ctrl-C, SIGTERM from a scheduler, SIGKILL from the out-of-memory killer)
leaves what was there before as it was and no half-written work behind it.

Tried: ``seqlab export --overwrite true`` over an earlier export, stopped by SIGINT and by SIGTERM while
its graphs are traced (one line and exit status 130 or 143, the earlier export byte for byte, no work
folder) and killed by SIGKILL (its work folder stays until the next export removes it); the clean-up
of work files by which process wrote them (a dead one of this host, a running one, another host's, a
user's own similarly named files).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.engine.outputs import write_atomically
from seqlab.engine.user_errors import exit_on_user_errors
from seqlab.engine.work_files import remove_stale_work, work_path
from tests.inference.export_helpers import classifier_checkpoint

SEQLAB = [sys.executable, "-m", "seqlab"]


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _export_stopped_while_tracing(
    ckpt: Path, output: Path, stop: signal.Signals
) -> subprocess.CompletedProcess:
    """Run ``seqlab export --overwrite true`` and send ``stop`` as soon as its work folder appears."""
    command = [*SEQLAB, "export", "--ckpt_path", str(ckpt), "--format", "onnx", "--output", str(output)]
    process = subprocess.Popen(
        [*command, "--overwrite", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not list(output.parent.glob(f".{output.name}.*")):
        assert process.poll() is None, "the export ended before its work folder was seen"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(stop)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def earlier_export(tmp_path_factory) -> tuple[Path, Path, dict[str, bytes]]:
    folder = tmp_path_factory.mktemp("stopped_export")
    ckpt = classifier_checkpoint(folder)
    output = folder / "model_onnx"
    main(["export", "--ckpt_path", str(ckpt), "--format", "onnx", "--output", str(output)])
    return ckpt, output, _files(output)


@pytest.mark.parametrize(
    ("stop", "code", "line"),
    [
        (signal.SIGINT, 130, "seqlab export: interrupted"),
        (signal.SIGTERM, 143, "seqlab export: stopped by SIGTERM"),
    ],
)
def test_a_stopped_export_keeps_the_earlier_one_and_leaves_no_work_folder(earlier_export, stop, code, line):
    ckpt, output, before = earlier_export
    result = _export_stopped_while_tracing(ckpt, output, stop)
    assert result.returncode == code, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [line]
    assert _files(output) == before
    assert sorted(path.name for path in output.parent.iterdir()) == ["classifier_lstm.ckpt", "model_onnx"]


def test_a_killed_exports_work_folder_is_removed_by_the_next_export(earlier_export, capsys):
    ckpt, output, _ = earlier_export
    result = _export_stopped_while_tracing(ckpt, output, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL
    left = list(output.parent.glob(f".{output.name}.*"))
    assert len(left) == 1 and left[0].is_dir()
    main(
        [
            "export",
            "--ckpt_path",
            str(ckpt),
            "--format",
            "onnx",
            "--output",
            str(output),
            "--overwrite",
            "true",
        ]
    )
    assert not left[0].exists()
    assert "wrote" in capsys.readouterr().out


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_work_files_are_removed_only_for_ended_processes_of_this_host(tmp_path):
    target = tmp_path / "out.txt"
    host = work_path(target).name.split(".")[3]  # this host's name as work files spell it
    assert host and host in socket.gethostname().replace(".", "-")
    dead = tmp_path / f".out.txt.{host}.{_ended_pid()}.0badf00d.partial"
    dead_folder = tmp_path / f".out.txt.{host}.{_ended_pid()}.0badf00e"
    running = tmp_path / f".out.txt.{host}.{os.getpid()}.0badf00f.partial"
    other_host = tmp_path / f".out.txt.another-node.{_ended_pid()}.0badf010.partial"
    users = [tmp_path / "out.txt.partial", tmp_path / ".out.txt.notes", tmp_path / ".out.txt.v2.1.2.partial"]
    for path in [dead, running, other_host, *users]:
        path.write_text("x", encoding="utf-8")
    dead_folder.mkdir()
    (dead_folder / "graph.onnx").write_bytes(b"\0")
    assert sorted(remove_stale_work(target)) == sorted([dead, dead_folder])
    assert all(path.exists() for path in [running, other_host, *users])
    assert work_path(target, ".partial").name.startswith(f".out.txt.{host}.{os.getpid()}.")


def test_writing_an_output_removes_a_killed_writers_partial_file(tmp_path):
    target = tmp_path / "tags.txt"
    host = work_path(target).name.split(".")[3]
    stale = tmp_path / f".tags.txt.{host}.{_ended_pid()}.12345678.partial"
    stale.write_text("half", encoding="utf-8")
    write_atomically(target, lambda file: file.write("done\n"))
    assert target.read_text(encoding="utf-8") == "done\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tags.txt"]


def test_ctrl_c_inside_an_import_is_one_line(capsys):
    """Ctrl-C while a library is imported can surface as that library's own error raised while the
    interrupt is handled; it is still `interrupted`, not a traceback."""
    with pytest.raises(SystemExit) as stopped, exit_on_user_errors("decode"):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RecursionError("maximum recursion depth exceeded") from None
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "seqlab decode: interrupted\n"
