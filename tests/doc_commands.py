"""The commands that README.md and docs/*.md show, read out of their fenced code blocks, and the driver
that checks them with seqlab's real parsers (``python tests/doc_commands.py``, fed JSON on stdin).

The convention the docs follow (docs/development.md, "Commands in the docs"):

- every line of a ```bash, ```sh or ```console block is a command (``\\`` continues a line, ``#``
  starts a comment; in ```console blocks only ``$ `` lines are commands and the lines after one are
  its output, which must appear in what the command prints);
- a command is ``seqlab ...`` (or ``.venv/bin/seqlab``, ``python -m seqlab``), ``make TARGET``, or
  ``python benchmarks/SCRIPT.py`` (or ``.venv/bin/python benchmarks/...``); ``printf``, ``echo`` and
  ``cat`` may feed one through a pipe;
- a block whose first line is ``# needs: WHAT`` holds commands this machine cannot run (a GPU, a
  cluster, your own files or accounts): its seqlab commands are still parsed, and only there may a line
  be another program (``kubectl``, ``wandb``, ...), which the check then leaves alone.

Why a driver process: parsing a training command imports torch and Lightning; one process parses them
all (each in turn, as ``seqlab`` would) instead of paying that import per command.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import runpy
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED_PAGES = ("architecture.md",)  # a map for developers, with no commands to run
SHELL_LANGS = ("bash", "sh", "shell", "console")
NEEDS = re.compile(r"^#\s*needs:\s*(.+)$")
FEEDERS = ("printf", "echo", "cat")
SEQLAB_PREFIXES = (
    ("seqlab",),
    (".venv/bin/seqlab",),
    ("python", "-m", "seqlab"),
    ("python3", "-m", "seqlab"),
)
PYTHONS = ("python", "python3", ".venv/bin/python")
TRAINING_VERBS = ("fit", "validate", "test")


@dataclass
class DocCommand:
    """One command as a page shows it: where, its words, and what the page says about it."""

    page: str
    line: int
    text: str
    words: list[str]
    kind: str  # seqlab | make | benchmark | external
    needs: str | None = None
    output: list[str] = field(default_factory=list)  # console blocks: the lines shown after it

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def doc_pages() -> list[Path]:
    """README.md and every page of docs/ with commands for users."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return [page for page in pages if page.name not in SKIPPED_PAGES or page.parent.name != "docs"]


def code_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """``(line of the first body line, language, body lines)`` of each fenced block."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not fence:
            i += 1
            continue
        marker, lang, start, body = fence.group(2), fence.group(3).lower(), i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        blocks.append((start + 1, lang, body))
        i += 1
    return blocks


def _logical_lines(body: list[str], first: int, console: bool) -> list[tuple[int, str, list[str]]]:
    """``(line number, command text, output lines)``: continuations joined, comments dropped."""
    out: list[tuple[int, str, list[str]]] = []
    pending, start = "", 0
    for offset, raw in enumerate(body):
        number = first + offset
        if console and not pending:
            if not raw.startswith("$ "):
                if out and raw.strip():
                    out[-1][2].append(raw.strip())
                continue
            raw = raw[2:]
        line = _strip_comment(raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command:
            out.append((start, command, []))
    return out


def _strip_comment(line: str) -> str:
    """The line without a ``#`` comment (one outside quotes, at the start or after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _kind(words: list[str]) -> str:
    if any(words[: len(prefix)] == list(prefix) for prefix in SEQLAB_PREFIXES):
        return "seqlab"
    if words[0] == "make":
        return "make"
    if words[0] in PYTHONS and len(words) > 1 and words[1].startswith("benchmarks/"):
        return "benchmark"
    return "external"


def _parts(command: str) -> list[str]:
    """The commands of a pipeline or ``&&`` chain, without a leading ``< FILE`` redirection."""
    parts = [part.strip() for part in re.split(r"\s(?:\|\|?|&&|;)\s", f" {command} ")]
    return [re.sub(r"^<\s*\S+\s*", "", part) for part in parts if part]


def page_commands(page: Path) -> list[DocCommand]:
    """Every command of one page, in order."""
    name = str(page.relative_to(REPO))
    found: list[DocCommand] = []
    for first, lang, body in code_blocks(page.read_text(encoding="utf-8")):
        if lang not in SHELL_LANGS or not body:
            continue
        needs = NEEDS.match(body[0].strip())
        for number, text, output in _logical_lines(body, first, lang == "console"):
            for part in _parts(text):
                words = shlex.split(part)
                if not words or (words[0] in FEEDERS and part != text):
                    continue
                found.append(
                    DocCommand(name, number, text, words, _kind(words), needs and needs.group(1), output)
                )
    return found


def all_commands() -> list[DocCommand]:
    return [command for page in doc_pages() for command in page_commands(page)]


def seqlab_argv(words: list[str]) -> list[str]:
    """The arguments after ``seqlab``."""
    for prefix in SEQLAB_PREFIXES:
        if words[: len(prefix)] == list(prefix):
            return words[len(prefix) :]
    raise ValueError(f"not a seqlab command: {words}")


# --- the driver: run in its own process by the test ---------------------------------------------


class Parsed(BaseException):
    """Raised right after a verb's parser accepted its arguments: nothing more of the verb runs.
    A BaseException, so that no ``except Exception`` in a verb takes it for a failure."""


STOP = [False]  # whether a successful outermost parse raises Parsed (mode "parse" only)


def _stop_after_parsing() -> None:
    """Make the outermost ``parse_args``/``parse_known_args`` call raise :class:`Parsed` on success
    while ``STOP[0]`` is set (argparse's and jsonargparse's parsers both)."""
    import jsonargparse

    depth = [0]

    def wrap(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def parse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            depth[0] += 1
            try:
                result = original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and STOP[0]:
                raise Parsed
            return result

        setattr(cls, name, parse)

    for cls in (argparse.ArgumentParser, jsonargparse.ArgumentParser):
        for name in ("parse_args", "parse_known_args"):
            if name in vars(cls):
                wrap(cls, name)


def _run_one(words: list[str], mode: str) -> dict[str, object]:
    """``mode``: ``print_config`` (a training verb, run with --print_config), ``parse`` (any other
    verb or a benchmark script, stopped once parsed) or ``run`` (run it whole, output captured)."""
    from seqlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    STOP[0] = mode == "parse"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if words[0] == "benchmark":
                sys.argv = words[1:]
                sys.path.insert(0, str((REPO / words[1]).parent))  # as `python benchmarks/X.py` has it
                runpy.run_path(str(REPO / words[1]), run_name="__main__")
            else:
                main(words + (["--print_config"] if mode == "print_config" else []))
        except Parsed:
            code = "parsed"
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) or exit_.code is None else 1
            if not isinstance(exit_.code, int) and exit_.code is not None:
                print(exit_.code, file=err)
        except Exception as error:  # reported to the test, which fails on it
            code = f"{type(error).__name__}: {error}"
        finally:
            STOP[0] = False
    return {"code": 0 if code is None else code, "out": out.getvalue()[-4000:], "err": err.getvalue()[-4000:]}


def driver() -> None:
    """Read ``[[words, mode], ...]`` as JSON on stdin (``words[0]`` is ``benchmark`` for a script,
    else the arguments after ``seqlab``), write ``[result, ...]`` as JSON on stdout."""
    jobs = json.load(sys.stdin)
    real_stdout = sys.stdout
    _stop_after_parsing()
    real_stdout.write(json.dumps([_run_one(words, mode) for words, mode in jobs]))


if __name__ == "__main__":
    driver()
