"""Start-up time of ``seqlab VERB --help``: this checkout against a baseline revision, side by side.

Each command runs in a fresh interpreter (what a user waits for: imports, parser, help text), the two
sides in turn for every repeat so that a change in machine load hits both; it prints the median
seconds of each side and their ratio. ``benchmarks/README.md`` ("CLI start-up") has the numbers.

    .venv/bin/python benchmarks/cli_startup.py                      # baseline: 725d7f7 (before issue 17)
    .venv/bin/python benchmarks/cli_startup.py --baseline HEAD~3 --repeats 5 --verbs fit,decode
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERBS = (
    "fit",
    "generate",
    "predict",
    "decode",
    "transcribe",
    "tune",
    "submit slurm",
    "jobs",
    "runs",
    "report",
    "diagnose gradients",
)
RUN = "import sys; from seqlab.cli import main; main()"


def baseline_tree(revision: str, into: Path) -> Path:
    """The ``seqlab`` package of ``revision``, unpacked under ``into`` (put first on PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "seqlab"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def seconds(words: list[str], pythonpath: Path, cache: Path) -> float:
    """Wall time of ``seqlab WORDS --help`` with seqlab imported from ``pythonpath`` (also the working
    directory: ``python -c`` puts it first on sys.path) and ``cache`` as seqlab's cache."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "SEQLAB_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUN, *words, "--help"], env=env, capture_output=True, text=True, cwd=pythonpath
    )
    took = time.perf_counter() - start
    if done.returncode != 0 or not done.stdout.startswith("usage:"):
        raise SystemExit(f"seqlab {' '.join(words)} --help failed ({pythonpath}):\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="725d7f7", help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command on each side")
    parser.add_argument("--verbs", default=",".join(VERBS), help="comma-separated (`submit slurm` etc.)")
    args = parser.parse_args()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"baseline {args.baseline} vs this checkout; median of {args.repeats} runs each, interleaved\n")
    print(f"{'command':<34}{'baseline s':>11}{'now s':>8}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        before = baseline_tree(args.baseline, Path(tmp) / "baseline")
        kept = Path(tmp) / "kept"  # seqlab's cache for the `fit (kept text)` row: filled by its first run
        for verb in args.verbs.split(","):
            words = verb.split()
            rows = [(verb, False)] + ([(f"{verb} (kept text)", True)] if verb == "fit" else [])
            for name, warm in rows:
                old, new = [], []
                for _ in range(args.repeats + warm):  # a kept text: one more run, the first renders it
                    cold = Path(tempfile.mkdtemp(dir=tmp))  # an empty cache: the help is rendered
                    old.append(seconds(words, before, cold))
                    new.append(seconds(words, REPO, kept if warm else cold))
                old, new = old[warm:], new[warm:]
                a, b = statistics.median(old), statistics.median(new)
                print(f"{'seqlab ' + name + ' --help':<34}{a:>11.2f}{b:>8.2f}{b / a:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
