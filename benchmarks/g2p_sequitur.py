"""Grapheme-to-phoneme on the built-in CMUdict split: seqlab's attention model against the joint-sequence
model of sequitur-g2p (Bisani & Ney 2008), trained and tested on the same words, in one script.

    pip install sequitur-g2p        # the peer (not a seqlab dependency)
    python benchmarks/g2p_sequitur.py --seqlab_run runs/g2p_bilstm_attention/latest --order 6
    python benchmarks/g2p_sequitur.py --max_words 5000 --order 3 \
        --seqlab_config configs/transduction/g2p_bilstm_attention.yaml

It writes the split as sequitur lexicons, trains sequitur from order 1 and ramps up to ``--order``
(timing every step), applies it to the test words, and scores both systems with the same PER/WER
(against the closest reference pronunciation). seqlab's side is either a trained run
(``--seqlab_run``) or trained here (``--seqlab_config``, timed); it is decoded greedily and with
beam 5, timing words per second.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from seqlab.data.builtin.g2p import g2p_examples
from seqlab.data.examples import ParallelExample
from seqlab.data.modules.transduction import detokenize_target
from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.engine.checkpoints import checkpoint_data_state, read_checkpoint
from seqlab.engine.run_dir import resolve_checkpoint
from seqlab.inference.loader import load_task
from seqlab.metrics.edit_distance import item_error_rate, phoneme_error_rate


def write_lexicon(examples: list[ParallelExample], path: Path) -> None:
    with path.open("w", encoding="utf-8") as file:
        for e in examples:
            for target in e.targets:
                file.write(f"{e.source}\t{target}\n")


def sequitur_command() -> str:
    """sequitur's ``g2p.py``: beside this Python (a venv not on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "g2p.py"
    found = str(beside) if beside.is_file() else shutil.which("g2p.py")
    if found is None:
        sys.exit("sequitur-g2p is not installed: pip install sequitur-g2p")
    return found


_OWN = """

def _own(obj):
    \"\"\"Take ownership of a SWIG-returned object (added by seqlab's benchmark). Recent SWIG returns some
    objects as bare pointers; those are first wrapped in their proxy class, named in the pointer's repr.\"\"\"
    if type(obj).__name__ == "SwigPyObject":
        name = repr(obj).split("'")[1].rstrip(" *").split("::")[-1]
        cls = getattr(sequitur_, name, None)
        if cls is None:
            obj.own(True)
            return obj
        proxy = cls.__new__(cls)
        proxy.this = obj
        obj = proxy
    obj.thisown = True
    return obj
"""


def sequitur_env(work: Path) -> dict[str, str]:
    """An environment whose ``sequitur`` module runs on this Python.

    The PyPI release (1.0.1668.30) sets ``x.thisown = True`` on objects that recent SWIG returns as
    bare ``SwigPyObject`` pointers, which fails with "'SwigPyObject' object has no attribute 'thisown'"
    (fixed upstream in sequitur-g2p pull request #111, not released); such a pointer also lacks the
    methods sequitur calls on it later (discount adjustment on more than a few thousand words). A
    patched copy of the installed module goes first on PYTHONPATH: it wraps bare pointers in their
    proxy class and takes ownership (dropping the assignment instead leaks every estimation graph:
    tens of GB on full CMUdict), and uses NumPy 2's ``any`` for the removed ``sometrue``.
    """
    import sequitur  # the installed module

    shim = work / "sequitur_shim"
    shim.mkdir(exist_ok=True)
    source = Path(sequitur.__file__).read_text(encoding="utf-8")
    patched = re.sub(r"^(\s*)([\w.]+)\.thisown = True$", r"\1\2 = _own(\2)", source, flags=re.MULTILINE)
    patched = patched.replace("num.sometrue(", "num.any(")  # removed in NumPy 2
    # Keep every training graph instead of rebuilding them each iteration past 5,000 words: faster, and
    # memory stays flat (rebuilt graphs are not all freed under recent SWIG).
    patched = patched.replace("maxStoredGraphs = 5000", "maxStoredGraphs = 10**9")
    (shim / "sequitur.py").write_text(patched + _OWN, encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}


def train_sequitur(train: Path, work: Path, order: int, on_order: Callable[[int, Path, float], None]) -> None:
    """Train order 1, then ramp up to ``order``, calling ``on_order(n, model, seconds so far)`` after each.

    Each order's model stays in ``work``, so a run cut short still leaves every finished order scored.
    """
    g2p = sequitur_command()
    env = sequitur_env(work)
    start = time.perf_counter()
    model: Path | None = None
    for n in range(1, order + 1):
        nxt = work / f"model-{n}"
        args = [g2p, "--train", str(train), "--devel", "5%", "--write-model", str(nxt)]
        if model is not None:
            args += ["--model", str(model), "--ramp-up"]
        subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
        model = nxt
        on_order(n, model, time.perf_counter() - start)


def apply_sequitur(model: Path, words: list[str], work: Path) -> list[str]:
    listing = work / "test.words"
    listing.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    result = subprocess.run(
        [sequitur_command(), "--model", str(model), "--apply", str(listing)],
        env=sequitur_env(work),
        check=True,
        capture_output=True,
        text=True,
    )
    found = {}
    for line in result.stdout.splitlines():
        word, _, phones = line.partition("\t")
        found.setdefault(word, phones.strip())
    return [found.get(w, "") for w in words]  # a word sequitur cannot convert counts as wrong


def seqlab_outputs(ckpt: Path, words: list[str], beam: int) -> tuple[list[str], float]:
    """Decoded outputs and words per second (batches of 256 words, one thread per core)."""
    task, source_tokenizer = load_task(ckpt)
    target = tokenizer_from_state(checkpoint_data_state(read_checkpoint(ckpt))["target_tokenizer"])
    outputs: list[str] = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(words), 256):
            chunk = words[i : i + 256]
            ids = [torch.as_tensor(source_tokenizer.encode(w), dtype=torch.long) for w in chunk]
            src = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True)
            lengths = torch.tensor([len(x) for x in ids])
            outputs += [detokenize_target(target, t) for t in task.decode_ids(src, lengths, beam)]
    return outputs, len(words) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seqlab_run", help="a trained seqlab G2P run directory or checkpoint")
    parser.add_argument("--seqlab_config", help="train seqlab with this config here (timed) instead")
    parser.add_argument("--order", type=int, default=6, help="sequitur's final model order (ramp-up steps)")
    parser.add_argument("--max_words", type=int, default=None, help="a seeded subset of CMUdict words")
    parser.add_argument("--stress", action="store_true", help="keep stress digits (default: stripped)")
    parser.add_argument("--skip_sequitur", action="store_true")
    parser.add_argument("--work_dir", help="keep sequitur's models here (default: temporary)")
    args = parser.parse_args()

    splits = g2p_examples(stress=args.stress, max_words=args.max_words)
    test = splits["test"]
    words, refs = [e.source for e in test], [e.targets for e in test]
    stress = "kept" if args.stress else "stripped"
    print(f"split: train {len(splits['train'])} / test {len(test)} words, stress {stress}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_sequitur:
            write_lexicon(splits["train"], work / "train.lex")

            def score(order: int, model: Path, seconds: float) -> None:
                hyps = apply_sequitur(model, words, work)
                per, wer = phoneme_error_rate(hyps, refs), item_error_rate(hyps, refs)
                rows.append((f"sequitur-g2p order {order}", seconds, per, wer, None))
                print(f"sequitur order {order}: {seconds:.0f} s, PER {per:.2%} WER {wer:.2%}", flush=True)

            train_sequitur(work / "train.lex", work, args.order, score)
    if args.seqlab_config:
        extra = [f"--data.source.init_args.stress={str(args.stress).lower()}"]
        if args.max_words:
            extra.append(f"--data.source.init_args.max_words={args.max_words}")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "seqlab", "fit", "--config", args.seqlab_config, *extra], check=True
        )
        train_seconds: float | None = time.perf_counter() - start
        name = Path(args.seqlab_config).stem
        ckpt = resolve_checkpoint(Path("runs") / name / "latest")
    elif args.seqlab_run:
        train_seconds, ckpt = None, resolve_checkpoint(args.seqlab_run)
    else:
        ckpt = None
    if ckpt is not None:
        for beam in (1, 5):
            hyps, speed = seqlab_outputs(ckpt, words, beam)
            label = "seqlab greedy" if beam == 1 else f"seqlab beam {beam}"
            rows.append(
                (label, train_seconds, phoneme_error_rate(hyps, refs), item_error_rate(hyps, refs), speed)
            )
    print(f"\n{'system':28} {'train s':>9} {'PER':>7} {'WER':>7} {'words/s':>9}")
    for name, seconds, per, wer, speed in rows:
        train = f"{seconds:9.0f}" if seconds is not None else f"{'-':>9}"
        rate = f"{speed:9.0f}" if speed is not None else f"{'-':>9}"
        print(f"{name:28} {train} {per:7.2%} {wer:7.2%} {rate}")


if __name__ == "__main__":
    main()
