"""Fault injection: a real ``seqlab fit`` is killed again and again and must lose little and end right.

What it does
    A small char-LSTM language model (``configs/generation/char_lstm.yaml`` shrunk: hidden 32, batch
    4 x 16 characters, dropout 0.3, fp32, on a few standard-library modules written into the work
    directory) is trained by ``python -m seqlab fit`` in one fixed run directory (``--run.dir``),
    with ``last.ckpt`` written every ``--every`` optimizer steps. Every process is started with the
    same command plus ``--ckpt_path last``, as a requeued cluster job would be.

    1. A reference run with the same seed and settings is trained without interruption.
    2. SIGKILL series (``--kills``): each process is killed (its whole process group, like a lost
       node) at a seeded random moment: ``step`` (a random number of steps, 1 to 2 intervals, after it
       resumed, plus a random fraction of a step), ``write`` (while a ``.*.ckpt.*.partial`` file of a
       checkpoint being written exists) or ``start`` (during start-up, before or around the first step).
    3. SIGTERM series (``--terms``): the process is sent SIGTERM at a random step; it must finish the
       batch, save ``last.ckpt`` and exit 143.
    4. A last process resumes and trains to ``--steps``; its weights are compared with the reference.

Per trial
    ``from``: the step the process resumed from (``global_step`` of ``last.ckpt`` before it started).
    ``reached``: the latest step the process completed before the signal: the newest train row it
    wrote to the run's ``metrics.csv`` (logged every step, row ``s`` = ``global_step`` ``s + 1``), or
    the step inside ``last.ckpt`` afterwards if higher. A step whose update finished but whose row
    was not written yet when the process died is not counted, so ``lost`` can be short by one.
    ``saved``: ``global_step`` of ``last.ckpt`` after the process died, read with
    ``torch.load(weights_only=True)``: the step the next process resumes from. ``lost`` = reached -
    saved. ``in-write``: the kill left a new ``.partial`` file behind (it hit a checkpoint write).
    ``checkpoints loaded``: the ``*.ckpt`` files of the run that loaded with ``weights_only=True``.
    ``resumed``: the process's first train row is at ``from`` (it continued from that file; ``-``: it
    died before its first row).

Goals (the exit status is 1 when one is missed): no corrupted checkpoint; at most one checkpoint
interval lost per SIGKILL; nothing lost per SIGTERM (and exit 143); every process resumes at the
saved step; final weights bit-for-bit equal to the uninterrupted run. It also compares every train
loss row with the reference's (redone steps included) and names the first step that differs.

    .venv/bin/python benchmarks/faults.py                      # 20 kills, 5 terms: ~5 min idle, 12 busy
    .venv/bin/python benchmarks/faults.py --kills 3 --terms 1  # a quick check
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"
BATCH, SEQ_LEN = 4, 16
PREEMPTED_EXIT_CODE = 143  # seqlab.engine.preemption's (not imported: this process stays light)
EXPECTED_EXIT = {"KILL": (-signal.SIGKILL,), "TERM": (PREEMPTED_EXIT_CODE,), "END": (0,)}
START_TIMEOUT_S = 300.0  # a process that has not trained a step by then is stuck


def cpu_name() -> str:
    """The CPU's model name, so that timings can be compared across machines."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_corpus(folder: Path, train_chars: int) -> dict[str, Path]:
    """train/validation/test files of real text (standard-library Python source), train long enough
    that the whole run stays inside one epoch (the data position across an epoch end is not tested)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    names = ["argparse.py", "json/decoder.py", "textwrap.py", "string.py", "fractions.py"]
    names += sorted(str(p.relative_to(root)) for p in root.glob("*.py"))
    need, text = train_chars + 12_000, ""
    for name in dict.fromkeys(names):
        if len(text) >= need:
            break
        text += (root / name).read_text(encoding="utf-8", errors="replace")
    parts = {"train": text[:train_chars], "validation": text[-12_000:-6_000], "test": text[-6_000:]}
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, content in parts.items():
        out[split] = folder / f"{split}.txt"
        out[split].write_text(content, encoding="utf-8")
    return out


def has_checkpoint_every(env: dict[str, str]) -> bool:
    """Whether this seqlab has ``--run.checkpoint_every_n_steps`` (else validation writes last.ckpt)."""
    done = subprocess.run(
        [sys.executable, "-m", "seqlab", "fit", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return "checkpoint_every_n_steps" in done.stdout


def fit_command(args: argparse.Namespace, corpus: dict[str, Path], run_dir: Path, native: bool) -> list[str]:
    """The one command every process of a run is started with (the settings of the preemption test
    under which a resumed run equals an uninterrupted one bit for bit)."""
    if native:
        interval = [
            f"--run.checkpoint_every_n_steps={args.every}",
            f"--trainer.val_check_interval={4 * args.every}",
        ]
    else:
        interval = [f"--trainer.val_check_interval={args.every}"]
    return [
        sys.executable, "-m", "seqlab", "fit", "--config", str(CONFIG),
        "--data.corpus=seqlab.data.TextFiles",
        f"--data.corpus.train={corpus['train']}",
        f"--data.corpus.validation={corpus['validation']}",
        f"--data.corpus.test={corpus['test']}",
        f"--data.batch_size={BATCH}", f"--data.seq_len={SEQ_LEN}",
        "--model.net.hidden_size=32", "--model.net.embedding_size=16", "--model.net.dropout=0.3",
        "--trainer.precision=32-true", f"--trainer.max_steps={args.steps}", *interval,
        "--trainer.limit_val_batches=2", "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--run.wandb.mode=disabled", "--run.logger=csv", f"--run.dir={run_dir}",
        f"--seed_everything={args.seed}", "--ckpt_path=last",
    ]  # fmt: skip


def metrics_lines(run_dir: Path) -> tuple[list[str], list[str]]:
    """Header and complete data lines of ``metrics.csv`` (a half-written last line is left out)."""
    try:
        text = (run_dir / "metrics.csv").read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return [], []
    lines = text[: text.rfind("\n") + 1].splitlines()
    if not lines:
        return [], []
    return next(csv.reader([lines[0]])), lines[1:]


def last_train_step(header: list[str], lines: list[str]) -> int | None:
    """``global_step`` after the newest train row among ``lines`` (row ``s`` is written after step s+1)."""
    if "step" not in header or "train/loss" not in header:
        return None
    step, loss = header.index("step"), header.index("train/loss")
    for line in reversed(lines):
        row = next(csv.reader([line]), [])
        if len(row) == len(header) and row[loss]:
            return int(row[step]) + 1
    return None


def first_train_step(header: list[str], lines: list[str]) -> int | None:
    """``global_step`` before the oldest train row among ``lines``: where that process started."""
    if "step" not in header or "train/loss" not in header:
        return None
    step, loss = header.index("step"), header.index("train/loss")
    for line in lines:
        row = next(csv.reader([line]), [])
        if len(row) == len(header) and row[loss]:
            return int(row[step])
    return None


def checkpoint_step(path: Path) -> int:
    """``global_step`` in a checkpoint (0 when there is none yet: a fresh start)."""
    if not path.is_file():
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def check_checkpoints(folder: Path) -> tuple[list[str], list[str]]:
    """Names of the checkpoints that load with ``weights_only=True`` and hold a training state, and
    of those that do not (with the error)."""
    good, bad = [], []
    for path in sorted(folder.glob("*.ckpt")):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if "state_dict" not in state or "global_step" not in state:
                raise ValueError("no state_dict/global_step")
            good.append(path.stem)
        except Exception as err:
            bad.append(f"{path.name}: {type(err).__name__}: {str(err)[:120]}")
    return good, bad


def partials(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.partial")} if folder.is_dir() else set()


@dataclass
class Trial:
    """One process of the faulted run and what the signal did to it."""

    number: int
    kind: str  # KILL, TERM or END (the last process, trained to the end)
    moment: str
    start: int = 0
    reached: int = 0
    saved: int = 0
    exit: int | None = None
    in_write: bool = False
    good: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    resumed_at: int | None = None  # step before this process's first train row: where it really continued
    seconds: float = 0.0
    note: str = ""

    @property
    def lost(self) -> int:
        return self.reached - self.saved


class Runner:
    """Starts the processes of one run directory and sends them their signals."""

    def __init__(self, command: list[str], run_dir: Path, env: dict[str, str], logs: Path) -> None:
        self.command, self.run_dir, self.env, self.logs = command, run_dir, env, logs
        self.ckpts = run_dir / "checkpoints"
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str) -> tuple[subprocess.Popen, int]:
        """A new process (own process group) and the number of metrics rows that were there before it."""
        _, before = metrics_lines(self.run_dir)
        with open(self.logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        return proc, len(before)

    def reached(self, rows_before: int) -> int | None:
        """The newest step this process (the rows after ``rows_before``) has completed, if any."""
        header, lines = metrics_lines(self.run_dir)
        return last_train_step(header, lines[rows_before:])

    def wait_steps(self, proc: subprocess.Popen, rows_before: int, target: int) -> bool:
        """Poll until the process has completed step ``target``; False when it exited first."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if (self.reached(rows_before) or 0) >= target:
                return True
            time.sleep(0.01)
        return False

    def wait_write(self, proc: subprocess.Popen, rows_before: int, start: int, every: int) -> bool:
        """Poll until a new checkpoint is being written (a new ``.partial`` file); polls fast only near
        a checkpoint step. False when the process exited, or after 4 intervals without catching one."""
        old = partials(self.ckpts)
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            step = self.reached(rows_before)
            if step is not None and step >= start + 4 * every:
                return False
            near = step is None or step % every in (0, every - 1)
            for _ in range(40 if near else 1):
                if partials(self.ckpts) - old:
                    return True
                time.sleep(0.0005 if near else 0.01)
        return False

    def finish(self, proc: subprocess.Popen, trial: Trial, rows_before: int, t0: float) -> Trial:
        """Wait for the process to end, then read back what it left."""
        try:
            trial.exit = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            trial.exit = proc.wait()
            trial.note = "did not exit within 300 s of the signal; killed"
        trial.seconds = time.monotonic() - t0
        header, lines = metrics_lines(self.run_dir)
        if len(lines) < rows_before:
            trial.note = f"metrics.csv lost rows ({rows_before} -> {len(lines)})"
        mine = lines[rows_before:]
        trial.resumed_at = first_train_step(header, mine)
        trial.good, trial.bad = check_checkpoints(self.ckpts)
        last = self.ckpts / "last.ckpt"
        try:
            trial.saved = checkpoint_step(last)
        except Exception as err:  # counted in trial.bad already
            trial.saved, trial.note = -1, f"last.ckpt unreadable: {err}"
        trial.reached = max(last_train_step(header, mine) or trial.start, trial.saved)
        return trial


def run_trial(
    runner: Runner, trial: Trial, args: argparse.Namespace, rng: random.Random, timing: dict
) -> Trial:
    """One process: start it, wait for its moment, send the signal, read back the damage."""
    trial.start = checkpoint_step(runner.ckpts / "last.ckpt")
    old_partials = partials(runner.ckpts)
    proc, rows_before = runner.start(f"trial-{trial.number:02d}-{trial.kind.lower()}")
    t0 = time.monotonic()
    try:
        if trial.kind == "END":
            return runner.finish(proc, trial, rows_before, t0)
        if trial.moment == "start":
            time.sleep(rng.uniform(0.2, timing["startup_s"]))
            alive = proc.poll() is None
        elif trial.moment == "write":
            alive = runner.wait_write(proc, rows_before, trial.start, args.every)
            if not alive and proc.poll() is None:
                trial.moment = "write?"  # no write caught in 4 intervals: killed at a plain step instead
                alive = True
        else:
            target = trial.start + rng.randint(1, 2 * args.every)
            alive = runner.wait_steps(proc, rows_before, target)
            if alive:
                time.sleep(rng.uniform(0.0, timing["step_s"]))
        if alive and proc.poll() is None:
            if trial.kind == "KILL":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGTERM)
        else:
            trial.note = "the process ended before its signal"
        runner.finish(proc, trial, rows_before, t0)
        trial.in_write = bool(partials(runner.ckpts) - old_partials)
        return trial
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def reference(runner: Runner) -> dict[str, float]:
    """Train the uninterrupted run; returns its start-up time and seconds per step (moments are drawn
    from these)."""
    proc, _ = runner.start("reference")
    t0 = time.monotonic()
    first = None
    while proc.poll() is None:
        if first is None and runner.reached(0) is not None:
            first = time.monotonic()
        time.sleep(0.02)
    end = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(
            f"the reference run failed (exit {proc.returncode}); see {runner.logs / 'reference.log'}"
        )
    steps = checkpoint_step(runner.ckpts / "last.ckpt")
    first = first or t0
    return {"startup_s": first - t0, "step_s": (end - first) / max(steps, 1), "total_s": end - t0}


def compare_weights(a: Path, b: Path) -> tuple[bool, str]:
    """Whether two checkpoints hold bit-for-bit the same weights, and the largest difference."""
    sa = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    if sa.keys() != sb.keys():
        return False, f"different keys: {sorted(sa.keys() ^ sb.keys())}"
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    if not differ:
        return True, f"{len(sa)} tensors identical"
    worst = max((sa[k].float() - sb[k].float()).abs().max().item() for k in differ)
    return False, f"{len(differ)} of {len(sa)} tensors differ (max abs diff {worst:.3g}), e.g. {differ[0]}"


def train_losses(run_dir: Path) -> list[tuple[int, str]]:
    with open(run_dir / "metrics.csv", newline="") as file:
        return [(int(r["step"]), r["train/loss"]) for r in csv.DictReader(file) if r.get("train/loss")]


def compare_losses(faulted: Path, straight: Path) -> str:
    """Every train row of the faulted run (steps redone after a kill included) against the reference."""
    expected = dict(train_losses(straight))
    rows = train_losses(faulted)
    wrong = sorted({s for s, loss in rows if expected.get(s) != loss})
    missing = sorted(set(expected) - {s for s, _ in rows})
    if not wrong and not missing:
        return f"yes ({len(rows)} rows, {len(rows) - len(expected)} of them redone steps)"
    first = f", the first at step {wrong[0]}" if wrong else ""
    return f"NO ({len(wrong)} steps differ{first}; {len(missing)} steps missing)"


def print_row(t: Trial) -> None:
    ckpts = (",".join(t.good) or "none yet") if not t.bad else "BAD " + "; ".join(t.bad)
    resumed = "-" if t.resumed_at is None else ("yes" if t.resumed_at == t.start else f"NO ({t.resumed_at})")
    print(
        f"{t.number:>5} {t.kind:<5}{t.moment:<7}{t.start:>6}{t.reached:>8}{t.saved:>6}{t.lost:>5}"
        f"{t.exit if t.exit is not None else '-':>6}  {'yes' if t.in_write else 'no':<9}{resumed:<8}"
        f"{t.seconds:>6.1f}  {ckpts}{'  ' + t.note if t.note else ''}",
        flush=True,
    )


def header(args: argparse.Namespace, workdir: Path) -> str:
    """What ran where: the settings, versions and the CPU with its figures."""
    return (
        f"seqlab fault injection: {args.kills} x SIGKILL, {args.terms} x SIGTERM, "
        f"checkpoint every {args.every} steps, max_steps {args.steps}, seed {args.seed}\n"
        f"char LSTM hidden 32, B={BATCH} T={SEQ_LEN}, dropout 0.3, fp32, 1 thread; "
        f"torch {torch.__version__}, lightning {version('lightning')}, python {platform.python_version()}\n"
        f"CPU: {cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"work directory {workdir}"
    )


def plan(args: argparse.Namespace, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, moment) of every process: the kills' moments shuffled, then the terms, then the end."""
    n_write = min(args.kills, max(1 if args.kills >= 2 else 0, round(args.kills * args.write_share)))
    n_start = min(args.kills - n_write, round(args.kills * args.start_share))
    moments = ["write"] * n_write + ["start"] * n_start + ["step"] * (args.kills - n_write - n_start)
    rng.shuffle(moments)
    return [("KILL", m) for m in moments] + [("TERM", "step")] * args.terms + [("END", "-")]


def goals(args: argparse.Namespace, done: list[Trial], equal: bool) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, target, met) rows of the summary."""
    kills = [t for t in done if t.kind == "KILL"]
    terms = [t for t in done if t.kind == "TERM"]
    loads = sum(len(t.good) + len(t.bad) for t in done)
    corrupted = sum(len(t.bad) for t in done)
    kill_lost = max((t.lost for t in kills), default=0)
    term_lost = max((t.lost for t in terms), default=0)
    term_exits = sorted({t.exit for t in terms if t.exit is not None})
    term_ok = term_lost == 0 and all(t.exit == PREEMPTED_EXIT_CODE for t in terms)
    checked = [t for t in done if t.resumed_at is not None]
    wrong = [t.number for t in checked if t.resumed_at != t.start]
    return [
        ("corrupted checkpoints", f"{corrupted} of {loads} loads", "0", corrupted == 0),
        ("max steps lost per SIGKILL", str(kill_lost), f"<= {args.every}", kill_lost <= args.every),
        ("steps lost per SIGTERM", f"max {term_lost}, exits {term_exits}", "0, exit 143", term_ok),
        ("resumed at the saved step", f"{len(checked) - len(wrong)} of {len(checked)}", "all", not wrong),
        ("final weights equal", "yes" if equal else "no", "yes", equal),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20, help="SIGKILL trials")
    parser.add_argument("--terms", type=int, default=5, help="SIGTERM trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training run and of the moments")
    parser.add_argument("--every", type=int, default=10, help="checkpoint interval in optimizer steps")
    parser.add_argument("--steps", type=int, default=None, help="max_steps (default: enough for all trials)")
    parser.add_argument("--write-share", type=float, default=0.3, help="share of kills aimed at a write")
    parser.add_argument("--start-share", type=float, default=0.1, help="share of kills during start-up")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    args = parser.parse_args()
    # a trial advances at most 2 intervals (+ a few steps of polling lag); keep a margin for the last run
    args.steps = args.steps or (args.kills + args.terms) * (2 * args.every + 4) + 3 * args.every

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seqlab-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "SEQLAB_RUN_DIR"}
    env |= {
        "OMP_NUM_THREADS": "1",  # both runs on the same single thread: bit-for-bit comparable
        "SEQLAB_CACHE": str(workdir / "cache"),
        "WANDB_MODE": "disabled",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    t_all = time.monotonic()
    native = has_checkpoint_every(env)
    corpus = write_corpus(workdir / "corpus", (args.steps + 20) * BATCH * SEQ_LEN + BATCH)
    print(header(args, workdir), flush=True)
    if not native:
        print(
            "WARNING: this seqlab has no --run.checkpoint_every_n_steps; last.ckpt is written by validation "
            f"instead (--trainer.val_check_interval={args.every})",
            flush=True,
        )

    logs = workdir / "logs"
    straight = Runner(
        fit_command(args, corpus, workdir / "reference", native), workdir / "reference", env, logs
    )
    timing = reference(straight)
    print(
        f"reference run: {args.steps} steps in {timing['total_s']:.1f} s "
        f"(start-up {timing['startup_s']:.1f} s, {1000 * timing['step_s']:.1f} ms/step)\n",
        flush=True,
    )

    rng = random.Random(args.seed)
    runner = Runner(fit_command(args, corpus, workdir / "faulted", native), workdir / "faulted", env, logs)
    print("trial kind moment  from reached saved lost  exit  in-write resumed  secs  checkpoints loaded")
    done: list[Trial] = []
    for number, (kind, moment) in enumerate(plan(args, rng), 1):
        trial = run_trial(runner, Trial(number, kind, moment), args, rng, timing)
        done.append(trial)
        print_row(trial)
        if trial.exit not in EXPECTED_EXIT[kind]:
            log = (workdir / "logs" / f"trial-{number:02d}-{kind.lower()}.log").read_text(errors="replace")
            print("  unexpected exit; the end of its output:\n    " + "\n    ".join(log.splitlines()[-15:]))

    last = done[-1]
    if last.exit == 0 and last.saved == args.steps:
        equal, detail = compare_weights(runner.ckpts / "last.ckpt", straight.ckpts / "last.ckpt")
    else:
        equal, detail = False, "the last process did not reach max_steps"
    kills = [t for t in done if t.kind == "KILL"]
    print(f"\nkills that hit a checkpoint write: {sum(t.in_write for t in kills)} of {len(kills)}")
    print(f"stale .partial files left in checkpoints/: {len(partials(runner.ckpts))}")
    print(f"train losses equal to the reference: {compare_losses(runner.run_dir, straight.run_dir)}")
    print(f"last process: exit {last.exit}, global_step {last.saved} of {args.steps}")
    print(f"final weights vs the uninterrupted run: {detail}")
    table = goals(args, done, equal)
    print(f"\n{'goal':<28}{'measured':<28}{'target':<14}result")
    for name, measured, target, ok in table:
        print(f"{name:<28}{measured:<28}{target:<14}{'MET' if ok else 'MISSED'}")
    print(f"\nwhole benchmark: {time.monotonic() - t_all:.0f} s, {len(done) + 1} seqlab processes")
    failed = not all(ok for *_, ok in table)
    if failed or args.workdir:
        print(f"work directory kept: {workdir} (logs/ holds every process's output)")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
