"""What every section shares: the run context, result rows written as JSON lines, small helpers.

A section runs in a child process of its own (a CUDA fault or a hang in one must not take the others
down) and reports by appending JSON lines to a file, one per row, flushed at once: whatever it
wrote before being killed still reaches the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"


@dataclass
class Context:
    """Settings of the whole check, handed to each section's process as a JSON file."""

    device: str  # "cuda" or "cpu"
    quick: bool
    workdir: str  # scratch space shared by the sections (the fits' checkpoints live here)
    precisions: list[str]  # Lightning precisions of the config fits
    steps: int  # training steps per config fit
    cpus: int
    deadline: float = 0.0  # time.time() by which the section should have finished

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Context:
        return cls(**json.loads(path.read_text()))

    def left(self) -> float:
        """Seconds until the section's deadline."""
        return self.deadline - time.time()

    @property
    def accelerator(self) -> str:
        return "cuda" if self.device.startswith("cuda") else "cpu"


class Emitter:
    """Appends result rows (and header facts, ``meta``) to a JSON-lines file, one flushed line each."""

    def __init__(self, path: Path, section: str) -> None:
        self.path, self.section = path, section
        self.lock = threading.Lock()  # the fits section emits from several threads

    def _write(self, record: dict[str, Any]) -> None:
        with self.lock, self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    def row(self, item: str, result: str, detail: str = "", seconds: float | None = None) -> None:
        row = {"section": self.section, "item": item, "result": result, "detail": detail}
        self._write({"row": row | {"seconds": None if seconds is None else round(seconds, 1)}})
        print(f"[{self.section}] {item}: {result} {detail}", flush=True)

    def meta(self, **facts: Any) -> None:
        self._write({"meta": facts})

    @contextlib.contextmanager
    def guard(self, item: str) -> Iterator[None]:
        """Run one item; an exception becomes a FAIL row with its one-line reason, never an abort."""
        start = time.perf_counter()
        try:
            yield
        except Exception as err:
            self.row(item, "FAIL", one_line(err), time.perf_counter() - start)


def one_line(err: BaseException, limit: int = 240) -> str:
    """``Type: first line of the message``, shortened: what a FAIL row says."""
    text = str(err).strip().splitlines()
    message = f"{type(err).__name__}: {text[0] if text else ''}".strip().rstrip(":")
    return message if len(message) <= limit else message[: limit - 3] + "..."


def last_error_line(text: str, limit: int = 240) -> str:
    """The line of a log that best says what went wrong: the last one naming an error, else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error:" in line or "Exception" in line:
            return line[:limit]
    return lines[-1][:limit] if lines else "(no output)"


def experiment_configs() -> list[Path]:
    """configs/**/*.yaml but the job-submission profiles (cluster/) and sweep files (sweeps/)."""
    return sorted(p for p in CONFIGS.glob("**/*.yaml") if p.parent.name not in ("cluster", "sweeps"))


def quiet_env(home: Path) -> dict[str, str]:
    """Environment of a process that trains: private caches, everything offline, no W&B."""
    return {
        "SEQLAB_CACHE": str(home / "cache"),
        "HF_HOME": str(home / "hf"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "WANDB_SILENT": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONWARNINGS": "ignore",
    }


def groups_dir(workdir: str | Path) -> Path:
    """Where sections list the process groups they start in sessions of their own (``pid`` files), so
    that the orchestrator can end them too when it has to kill a section."""
    return Path(workdir) / "process-groups"


def sync(device: str) -> None:
    """Wait for queued GPU work, so a wall-clock time covers it; nothing on CPU."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def environ_with(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
