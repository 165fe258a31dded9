"""Every command that README.md and docs/*.md show is exercised, and every relative link they hold
leads somewhere: a doc page cannot promise a flag, key, config or file that does not exist.

How each command is exercised (the conventions are in ``tests/doc_commands.py``):

- ``seqlab fit|validate|test ...``: run with ``--print_config`` appended, which must exit 0 (Lightning's
  parser checks every key, value and config file);
- any other ``seqlab`` verb: its own parser must accept the arguments (the verb is stopped right after);
- ``seqlab submit ... --dry-run``: run whole (it prints the job and submits nothing), exit 0;
- ``$ seqlab ...`` in a ```console block: run whole, and the lines shown after it must be printed;
- ``make TARGET``: ``make -n TARGET`` must know the target;
- ``python benchmarks/X.py ...``: the script's own parser must accept the arguments;
- the README's "One example per task" block is run end to end by the slow test, in a fresh folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_commands import REPO, TRAINING_VERBS, DocCommand, all_commands, code_blocks, seqlab_argv

COMMANDS = all_commands()
README = REPO / "README.md"
EXAMPLES_HEADING = "## One example per task"


def test_the_docs_show_commands_of_every_kind():
    """The extraction itself: if it found nothing (a changed fence style, say), every check below would
    pass on an empty list."""
    kinds = {command.kind for command in COMMANDS}
    assert {"seqlab", "make", "benchmark"} <= kinds, kinds
    assert len([c for c in COMMANDS if c.kind == "seqlab"]) > 40
    assert any(c.output for c in COMMANDS), "no ```console example found"
    assert any(c.needs for c in COMMANDS), "no `# needs:` block found"


def test_every_command_is_one_the_check_can_exercise():
    """A command of another program, or with a placeholder (`...`, `C.yaml`), would be neither run nor
    checked: only a `# needs:` block may show another program, and no seqlab command may elide words."""
    unchecked = [c.where for c in COMMANDS if c.kind == "external" and not c.needs]
    assert not unchecked, "commands no check exercises (mark the block `# needs: ...`):\n" + "\n".join(
        unchecked
    )
    elided = [c.where for c in COMMANDS if c.kind != "external" and "..." in c.words]
    assert not elided, "commands with `...` cannot be parsed:\n" + "\n".join(elided)


def _dry_run(argv: list[str]) -> bool:
    """A `seqlab submit ... --dry-run`: it prints what it would submit and creates nothing, so it runs."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return argv[:1] == ["submit"] and any(a in ("--dry-run", "--dry_run") for a in options)


def _jobs() -> list[tuple[DocCommand, list[str], str]]:
    jobs = []
    for command in COMMANDS:
        if command.kind == "seqlab":
            argv = seqlab_argv(command.words)
            if command.output or _dry_run(argv):
                mode = "run"
            elif argv and argv[0] in TRAINING_VERBS:
                mode = "print_config"
            else:
                mode = "parse"
            jobs.append((command, argv, mode))
        elif command.kind == "benchmark":
            jobs.append((command, ["benchmark", *command.words[1:]], "parse"))
    return jobs


def test_every_seqlab_and_benchmark_command_passes_its_parser(tmp_path):
    """All in one driver process (tests/doc_commands.py), run from the repository root as a user would,
    with a private cache and W&B off. Tried: a stale key (`--model.hidden_size` after `net` came), a
    removed flag, a config path that moved, a console example whose message changed."""
    jobs = _jobs()
    env = {
        **os.environ,
        "SEQLAB_CACHE": str(tmp_path / "cache"),
        "WANDB_MODE": "disabled",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "doc_commands.py")],
        input=json.dumps([[argv, mode] for _, argv, mode in jobs]),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    failures = []
    for (command, _, mode), result in zip(jobs, results, strict=True):
        printed = result["out"] + result["err"]
        if mode == "run":
            missing = [line for line in command.output if line not in printed]
            if not command.output and result["code"] != 0:
                failures.append(f"{command.where}\n  (dry run) exit {result['code']}: {printed[-800:]}")
            elif missing:
                failures.append(f"{command.where}\n  expected: {missing}\n  printed: {printed[-800:]}")
        elif result["code"] not in (0, "parsed"):
            failures.append(f"{command.where}\n  ({mode}) exit {result['code']}: {printed[-800:]}")
    assert not failures, f"{len(failures)} doc commands fail:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "target", sorted({c.words[1] for c in COMMANDS if c.kind == "make" and len(c.words) > 1})
)
def test_make_targets_exist(target):
    """`make -n` names an unknown target ("No rule to make target") with status 2."""
    done = subprocess.run(["make", "-n", target], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lowercased, punctuation dropped, spaces to hyphens."""
    text = page.read_text(encoding="utf-8")
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+)$", outside_code, flags=re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def test_relative_links_lead_to_files_and_headings():
    """Tried: a link to a page that was renamed, and to a heading (`#resuming`) that was reworded."""
    broken = []
    for page in [README, *sorted((REPO / "docs").glob("*.md"))]:  # architecture.md's links too
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def _readme_examples() -> list[str]:
    """The README's example block, as the shell lines a user pastes (continuations kept)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(EXAMPLES_HEADING) :]
    section = section[: section.index("\n## ", 1)]
    _, lang, body = code_blocks(section)[0]
    assert lang == "bash"
    return body


@pytest.mark.slow
@pytest.mark.timeout(1800)  # minutes on idle cores, far longer on a machine that other jobs share
def test_the_readme_examples_run_end_to_end(tmp_path):
    """The README's quick examples, pasted into bash in a fresh folder that holds only `configs/`: every
    fit finishes, writes `runs/<name>/latest`, and the verb after it uses that checkpoint. What a new
    user does first must work as shown. One thread per process, as on a shared machine."""
    (tmp_path / "configs").symlink_to(REPO / "configs")
    script = "set -euo pipefail\n" + "\n".join(_readme_examples()) + "\n"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    assert shutil.which("seqlab", path=env["PATH"]), "the seqlab command is not installed beside python"
    try:
        done = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1700
        )
    except subprocess.TimeoutExpired as stuck:
        err = stuck.stderr.decode(errors="replace") if isinstance(stuck.stderr, bytes) else stuck.stderr or ""
        finished = sorted(path.name for path in (tmp_path / "runs").glob("*"))
        pytest.fail(f"the README examples did not finish in 1700 s; runs started: {finished}\n{err[-3000:]}")
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    for name in (
        "char_lstm",
        "langid_char_bilstm",
        "stress_bilstm",
        "g2p_bilstm_attention",
        "speech_ctc_bilstm",
    ):
        assert (tmp_path / "runs" / name / "latest" / "checkpoints" / "last.ckpt").is_file(), name
    rows = [line for line in done.stdout.splitlines() if "\t" in line]
    assert len(rows) >= 3 + 5, done.stdout  # label<TAB>probability per word, phoneme<TAB>stress per phoneme
    assert "test/cer" in done.stdout, done.stdout[-2000:]  # the speech model scored on its test split
