"""End-to-end: what a run has recorded (config, status, hparams, metrics, W&B, `latest`) is never changed by
another command: not by evaluating its checkpoint, not by a fit handed another task's or another
vocabulary's checkpoint, not by a fit that fails to start, and a directory that cannot be written is
named in a one-line error instead of a traceback."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from seqlab.cli import main
from tests.reliability.file_systems import permission_bits_apply, small_file_system
from tests.reliability.lock_holder import holding_lock

REPO = Path(__file__).resolve().parents[2]
LM_CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
CLASSIFY_CONFIG = REPO / "configs" / "classification" / "tsv_word_bigru_attention.yaml"
# bf16 autocast of nn.LSTM needs a CPU with AVX-512 (oneDNN); these tests are about records, not speed.
FP32 = "--trainer.precision=32-true"
RUN = Path("runs/char_lstm/version_0")
LAST = RUN / "checkpoints" / "last.ckpt"


@pytest.fixture
def tiny_fit_args(tiny_fit_args: list[str]) -> list[str]:
    return [*tiny_fit_args, FP32]


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every link's target under ``root`` (links are not followed). W&B's own
    debug logs are left out: its service appends to them for a moment after a run has finished."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.parent.name == "logs" and path.name.startswith("debug"):
            continue
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = path.read_bytes()
    return found


def fit_lm(tiny_fit_args: list[str], *extra: str) -> None:
    main(["fit", "--config", str(LM_CONFIG), *tiny_fit_args, *extra])


def user_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run a command that must stop on bad input; return its one `seqlab: error:` line (exit code 2)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err[-3000:]
    assert "Traceback" not in err, err[-6000:]
    lines = [line for line in err.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def child_commands() -> list[str]:
    """The command lines of this process's child processes (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])  # the field after state
            if entry.name.isdigit() and parent == os.getpid():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


def metric_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_validate_and_test_record_beside_the_fit_and_leave_its_files_alone(tiny_fit_args, capsys):
    """`validate` and `test` of a run's checkpoint, with a model option changed, leave every file of the
    fit byte-identical (config, hparams, status, metrics, its W&B run) and record themselves in
    evals/validate-0 and evals/test-0, each with its config, metrics and its own offline W&B run."""
    args = [a for a in tiny_fit_args if a != "--run.wandb.mode=disabled"]  # W&B offline (conftest)
    fit_lm(args)
    # W&B's service, which writes the offline run files, has exited: nothing writes to them any more
    # (finishing the run alone returned while the service was still appending to run-*.wandb).
    assert not [command for command in child_commands() if "wandb" in command]
    fit_files = snapshot(RUN)
    assert {"config.yaml", "hparams.yaml", "status.json", "metrics.csv", "wandb_run_id"} <= set(fit_files)
    runs_before = sorted(p.name for p in Path("runs/char_lstm").iterdir())

    override = "--model.init_args.net.dropout=0.05"
    main(["validate", "--config", str(LM_CONFIG), *args, "--ckpt_path", str(LAST), override])
    main(["test", "--config", str(LM_CONFIG), *args, "--ckpt_path", str(LAST), override])

    assert {k: v for k, v in snapshot(RUN).items() if not k.startswith("evals/")} == fit_files
    assert sorted(p.name for p in Path("runs/char_lstm").iterdir()) == runs_before
    assert sorted(p.name for p in (RUN / "evals").iterdir()) == ["test-0", "validate-0"]
    fit_wandb_id = fit_files["wandb_run_id"]
    for verb, metric in (("validate", "val/loss"), ("test", "test/loss")):
        record = RUN / "evals" / f"{verb}-0"
        config = yaml.safe_load((record / "config.yaml").read_text())
        assert config["model"]["init_args"]["net"]["dropout"] == 0.05
        assert config["ckpt_path"] == str(LAST)
        assert [r[metric] for r in metric_rows(record / "metrics.csv") if r.get(metric)]
        assert (record / "wandb_run_id").read_bytes() != fit_wandb_id
        assert len(list((record / "wandb").glob("offline-run-*"))) == 1

    # `seqlab runs` lists the run once, not its evaluations as runs of their own.
    capsys.readouterr()
    main(["runs"])
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert listed == ["char_lstm/version_0"]

    # A second test of the same run is another record; the first stays as it was.
    first = snapshot(RUN / "evals" / "test-0")
    main(["test", "--config", str(LM_CONFIG), *tiny_fit_args, "--ckpt_path", str(LAST)])
    assert snapshot(RUN / "evals" / "test-0") == first
    assert (RUN / "evals" / "test-1" / "metrics.csv").is_file()


def tiny_classifier_args(tiny_tsv: dict[str, Path], tiny_trainer_args: list[str]) -> list[str]:
    return [
        "--config",
        str(CLASSIFY_CONFIG),
        f"--data.source.train={tiny_tsv['train']}",
        f"--data.source.validation={tiny_tsv['validation']}",
        "--model.net.hidden_size=16",
        "--model.net.embedding_size=8",
        "--data.batch_size=4",
        *tiny_trainer_args,
    ]


@pytest.mark.parametrize("verb", ["fit", "validate"])
def test_checkpoint_of_another_task_is_refused_before_anything_is_written(
    tiny_fit_args, tiny_tsv, tiny_trainer_args, capsys, verb
):
    """A classifier config handed a language model's checkpoint stops with the two task classes named,
    and the language model's run (and `latest`, and the runs root) stay byte-identical."""
    fit_lm(tiny_fit_args)
    before = snapshot(Path("runs"))

    line = user_error(
        capsys, [verb, *tiny_classifier_args(tiny_tsv, tiny_trainer_args), "--ckpt_path", str(LAST)]
    )

    advice = "leave out --ckpt_path to start a new run" if verb == "fit" else f"to {verb} it"
    assert line.startswith(
        f"seqlab: error: {LAST} was trained by seqlab.tasks.generation.GenerationTask, not "
        "seqlab.tasks.classification.ClassificationTask: use a config of that kind, or "
    )
    assert line.endswith(advice)
    assert snapshot(Path("runs")) == before


def test_checkpoint_of_other_data_or_another_architecture_is_refused(tiny_fit_args, capsys, tmp_path):
    """Resuming with data whose vocabulary differs names the two vocabulary sizes; with a model option
    that changes the parameter shapes, names the option's two values. The run stays byte-identical."""
    fit_lm(tiny_fit_args)
    before = snapshot(Path("runs"))

    other = tmp_path / "other_train.txt"
    other.write_text("".join(chr(c) for c in range(0x3B1, 0x3C9)) * 400, encoding="utf-8")  # Greek letters
    resume = ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, "--ckpt_path", str(LAST)]
    line = user_error(capsys, [*resume, f"--data.corpus.train={other}"])
    trained = torch.load(LAST, weights_only=True)["hyper_parameters"]["vocab_size"]
    match = re.fullmatch(r"vocab_size (\d+) in the checkpoint, (\d+) here", line.split(": ")[3])
    assert line.startswith(f"seqlab: error: {LAST} was trained on other data: vocab_size ")
    assert match and int(match.group(1)) == trained and int(match.group(2)) == 1 + 24  # unknown + letters
    assert line.endswith("use the data settings of that run, or leave out --ckpt_path to start a new run")

    line = user_error(capsys, [*resume, "--model.init_args.net.hidden_size=48"])
    assert line == (
        f"seqlab: error: {LAST} does not fit the model this config builds: net.hidden_size 32 in the "
        "checkpoint, 48 here: leave out the options that change the architecture, or leave out --ckpt_path "
        "to start a new run"
    )
    assert snapshot(Path("runs")) == before


def test_failed_starts_leave_no_run_directory_and_keep_latest(tiny_fit_args, tmp_path):
    """Fits that fail on their data, whether while the data is read (a missing file) or while it is
    set up (too small a split for the batch), leave no version_N behind and `latest` on the good run,
    whose checkpoint `latest` still finds."""
    fit_lm(tiny_fit_args)
    before = snapshot(Path("runs"))
    tiny = tmp_path / "tiny_validation.txt"
    tiny.write_text("x")  # one token: nothing to predict (a few tokens would evaluate on fewer streams)
    failing = [
        [f"--data.corpus.train={tmp_path / 'no_such_train.txt'}"],
        [f"--data.corpus.validation={tiny}", "--data.eval_batch_size=64"],
    ]
    for extra in failing:
        with pytest.raises(SystemExit) as exit_info:
            fit_lm(tiny_fit_args, *extra)
        assert exit_info.value.code == 2
    assert snapshot(Path("runs")) == before
    assert sorted(p.name for p in Path("runs/char_lstm").iterdir()) == ["latest", "version_0"]
    assert (Path("runs/char_lstm/latest/checkpoints/last.ckpt")).is_file()


def test_a_new_fit_into_the_run_dir_of_another_is_refused_and_it_stays_whole(tiny_fit_args, capsys, tmp_path):
    """`--run.dir D` of a run with checkpoints, without `--ckpt_path last` (or with another run's
    checkpoint), mixed a second fit into it: status.json overwritten, metrics.csv appended,
    `last-v1.ckpt` beside `last.ckpt`. Now refused before anything is written; continuing it still works,
    and a run directory without checkpoints (a cluster job that died before its first) is still used."""
    bound = tmp_path / "bound"
    fit_lm(tiny_fit_args, f"--run.dir={bound}")
    fit_lm(tiny_fit_args, "--run.name=other")
    before = snapshot(bound)
    other = Path("runs/other/version_0/checkpoints/last.ckpt")
    for extra in ([], [f"--ckpt_path={other}"]):
        line = user_error(
            capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, f"--run.dir={bound}", *extra]
        )
        assert line.startswith(f"seqlab: error: --run.dir {bound} already holds a fit (checkpoints/")
        assert "continue it with --ckpt_path last" in line
        assert snapshot(bound) == before
    fit_lm(tiny_fit_args, f"--run.dir={bound}", "--ckpt_path=last", "--trainer.max_steps=9")
    assert torch.load(bound / "checkpoints/last.ckpt", weights_only=True)["global_step"] == 9
    assert not list((bound / "checkpoints").glob("*-v1.ckpt"))
    empty = tmp_path / "died_early"
    (empty / "checkpoints").mkdir(parents=True)
    fit_lm(tiny_fit_args, f"--run.dir={empty}")
    assert (empty / "checkpoints/last.ckpt").is_file()


def test_a_second_fit_into_a_run_still_training_on_this_host_is_refused(tiny_fit_args, capsys):
    """`--ckpt_path last` while the run's first fit was still training (another terminal, a forgotten
    tmux) trained both into one directory. Now the second is refused while the first lives, naming its
    process, and nothing in the run changes; once the first is stopped (SIGTERM), the resume works."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("SEQLAB_RUN_DIR", None)
    command = [sys.executable, "-m", "seqlab", "fit", "--config", str(LM_CONFIG), *tiny_fit_args]
    first = subprocess.Popen(
        [*command, "--trainer.max_steps=100000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = RUN / "status.json"
        for _ in range(600):
            if LAST.is_file() and json.loads(status.read_text())["state"] == "running":
                break
            time.sleep(0.1)
        else:
            pytest.fail("the first fit wrote no last.ckpt in 60 s")
        line = user_error(capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, "--ckpt_path=last"])
        assert line == (
            f"seqlab: error: {RUN} is being trained by process {first.pid} on this host: wait for it to "
            f"finish or stop it (kill {first.pid}: it saves last.ckpt), then resume"
        )
        assert not (RUN / "config.fit-1.yaml").exists()  # what a resume writes first
        assert sorted(p.name for p in Path("runs/char_lstm").iterdir()) == ["latest", "version_0"]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    stopped_at = torch.load(LAST, weights_only=True)["global_step"]
    fit_lm(tiny_fit_args, "--ckpt_path=last", f"--trainer.max_steps={stopped_at + 2}")
    assert torch.load(LAST, weights_only=True)["global_step"] == stopped_at + 2


def test_a_fit_that_has_only_just_started_in_a_run_dir_is_not_joined(tiny_fit_args, capsys, tmp_path):
    """Two fits started together with one `--run.dir`: the first has taken the run directory but written
    nothing yet (no status.json, no checkpoint), so neither the checkpoint check nor the recorded pid
    could see it, and both trained into the directory. The first now holds `.fit.lock` from the moment
    it chooses the directory (here a helper process holds it, as a fit would); the second is refused
    naming it, writes nothing, and trains once the holder is gone. Then two real fits started at the
    same moment: exactly one trains."""
    bound = tmp_path / "bound"
    bound.mkdir()
    with holding_lock(bound / ".fit.lock") as holder:
        before = snapshot(bound)
        line = user_error(capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, f"--run.dir={bound}"])
        assert line.startswith(f"seqlab: error: bound is being trained by process {holder.pid} on this host")
        assert snapshot(bound) == before
    fit_lm(tiny_fit_args, f"--run.dir={bound}")
    assert (bound / "checkpoints/last.ckpt").is_file()

    together = tmp_path / "together"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("SEQLAB_RUN_DIR", None)
    command = [sys.executable, "-m", "seqlab", "fit", "--config", str(LM_CONFIG), *tiny_fit_args]
    fits = [
        subprocess.Popen(
            [*command, f"--run.dir={together}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(fit.wait(timeout=300), fit.stderr.read() if fit.stderr else "") for fit in fits]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "together is being trained by process" in refused or "already holds a fit" in refused
    assert sorted(p.name for p in (together / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert len(metric_rows(together / "metrics.csv")) == len(metric_rows(bound / "metrics.csv"))


def test_a_live_python_process_with_the_recorded_pid_does_not_block_a_resume(tiny_fit_args):
    """After a fit is killed (SIGKILL: status.json still says running), its process number may go to
    another Python program. That blocked resuming; the run directory's lock, which died with the fit,
    is what counts now."""
    fit_lm(tiny_fit_args)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        status = json.loads((RUN / "status.json").read_text())
        status.update(state="running", pid=other.pid)
        (RUN / "status.json").write_text(json.dumps(status))
        fit_lm(tiny_fit_args, "--ckpt_path=last", "--trainer.max_steps=8")
    finally:
        other.kill()
        other.wait()
    assert torch.load(LAST, weights_only=True)["global_step"] == 8


def test_runs_root_that_is_a_file_is_named(tiny_fit_args, capsys):
    """A runs root that is a file (not a directory) is a one-line error naming it; nothing is created."""
    Path("blocked").write_text("not a directory\n")
    line = user_error(capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, "--run.root_dir=blocked"])
    assert line == (
        "seqlab: error: cannot write the run directory blocked/char_lstm (Not a directory): creating it "
        "(blocked is a file, not a directory)"
    )
    assert Path("blocked").read_text() == "not a directory\n"


def test_runs_root_that_cannot_be_created_is_named(tiny_fit_args, capsys):
    """A runs root where no folder can be made (/proc takes none) is the same one line, not Python's
    `[Errno 2] No such file or directory` (what it printed)."""
    line = user_error(
        capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, "--run.root_dir=/proc/seqlab"]
    )
    assert line == (
        "seqlab: error: cannot write the run directory /proc/seqlab/char_lstm (No such file or directory): "
        "creating it"
    )


def test_read_only_run_directory_and_runs_root_are_named(tiny_fit_args, capsys):
    """A read-only run directory (resume, validate) or run name directory (a new version) is a one-line
    error that names the directory and what was being written; nothing in the run changes."""
    fit_lm(tiny_fit_args)
    before = snapshot(Path("runs"))
    resume = ["fit", "--config", str(LM_CONFIG), *tiny_fit_args, "--trainer.max_steps=9", "--ckpt_path=last"]
    validate = ["validate", "--config", str(LM_CONFIG), *tiny_fit_args, f"--ckpt_path={LAST}"]
    try:
        RUN.chmod(0o555)
        Path("runs/char_lstm").chmod(0o555)
        with permission_bits_apply():
            resumed = user_error(capsys, resume)
            validated = user_error(capsys, validate)
            new = user_error(capsys, ["fit", "--config", str(LM_CONFIG), *tiny_fit_args])
    finally:
        RUN.chmod(0o755)
        Path("runs/char_lstm").chmod(0o755)
    assert resumed == (
        f"seqlab: error: cannot write the run directory {RUN} (Permission denied): fit writes its config, "
        "metrics, checkpoints and status there"
    )
    assert validated == (
        f"seqlab: error: cannot write the run directory {RUN} (Permission denied): creating the record of "
        "this validate in it"
    )
    assert new == (
        "seqlab: error: cannot write the run directory runs/char_lstm/version_1 (Permission denied): "
        "creating it"
    )
    assert snapshot(Path("runs")) == before


def test_a_full_disk_keeps_the_earlier_checkpoints_and_ends_in_one_line(tiny_fit_args, capsys, tmp_path):
    """A resumed fit whose file system fills up: the checkpoint that does not fit is not written, the
    earlier last.ckpt and best.ckpt are as they were (resume still works from them), the run records
    the failure, and the command ends in one line (it was torch's `unexpected pos 2402688 vs
    2402576` RuntimeError traceback)."""
    with small_file_system(tmp_path / "small", "1m") as small:
        args = [*tiny_fit_args, f"--run.root_dir={small}"]
        fit_lm(args, "--trainer.max_steps=3")
        run = small / "char_lstm" / "version_0"
        checkpoints = snapshot(run / "checkpoints")
        free = shutil.disk_usage(small).free
        (small / "filler").write_bytes(b"\0" * (free - 64 * 1024))  # 64 KiB left: a checkpoint is 256
        line = user_error(capsys, ["fit", "--config", str(LM_CONFIG), *args, "--ckpt_path=last"])
        assert re.fullmatch(
            rf"seqlab: error: {run}/checkpoints/\w+\.ckpt: no space left on its file system after "
            r"[\d.]+ kB, [\d.]+ kB free there now; the earlier file is as it was",
            line,
        ), line
        assert snapshot(run / "checkpoints") == checkpoints
        assert json.loads((run / "status.json").read_text())["state"] == "failed"
        (small / "filler").unlink()
        fit_lm(args, "--ckpt_path=last")  # room again: the run goes on from its last.ckpt
        assert json.loads((run / "status.json").read_text())["step"] == 6
