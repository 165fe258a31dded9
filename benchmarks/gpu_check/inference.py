"""Section ``cli``: the inference verbs with ``--device`` on checkpoints from the ``fits`` section.

Why: ``generate``, ``decode``, ``transcribe`` and ``predict`` load a checkpoint outside Lightning and
place the model and every tensor themselves; a CPU-only test suite cannot see a tensor left on the
wrong device. Each verb runs through ``seqlab.cli.main`` in this process, on the run of the config
named below (trained here, tiny, when the ``fits`` section left none, e.g. under ``--only cli``).
The detail gives the size of what came out and its start; WARN: not one output line per input.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path

from gpu_check.common import CONFIGS, Context, Emitter, last_error_line
from gpu_check.fits import Job, run_dir_of, run_job
from gpu_check.tiny import conllu_files, parallel_files

PROMPT = "def "


def call(argv: list[str]) -> str:
    """stdout of ``seqlab ARGV`` run in this process; a non-zero exit raises with its error line."""
    from seqlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(argv)
    except SystemExit as done:
        if done.code not in (0, None):
            raise RuntimeError(f"exit {done.code}: {last_error_line(err.getvalue())}") from None
    return out.getvalue()


def sample(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


def tone_wav(path: Path) -> Path:
    """One second of a rising tone with a little noise, 16 kHz mono: any audio will do."""
    import numpy as np
    import soundfile

    rate = 16000
    t = np.arange(rate) / rate
    noise = 0.01 * np.random.default_rng(0).standard_normal(rate)
    wave = 0.4 * np.sin(2 * np.pi * (300 + 500 * t) * t) + noise
    soundfile.write(path, wave.astype(np.float32), rate)
    return path


def generate(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    options = ["--prompt", PROMPT, "--max_new_tokens", "64", "--seed", "1", "--device", device]
    text = call(["generate", "--ckpt_path", str(ckpt), *options])
    new = text.rstrip("\n")[len(PROMPT) :]
    return "OK", f"{len(new)} new characters: {sample(new)}"


def written(path: Path, inputs: int, keyed: bool = False) -> tuple[str, str]:
    """WARN unless the output has one line per input; the detail shows the start of the first line
    (``keyed``: lines are ``key<TAB>text``, only the text is shown)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = (lines[0].split("\t", 1)[-1] if keyed else lines[0]) if lines else ""
    detail = f"{len(lines)} lines, {sum(map(len, lines))} chars, first {sample(first)}"
    if len(lines) != inputs:
        return "WARN", f"{len(lines)} output lines for {inputs} inputs; {detail}"
    return "OK", detail


def decode_g2p(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    source = folder / "words.txt"
    source.write_text("hello\nworld\ngraphics\n", encoding="utf-8")
    out = folder / "g2p.out"
    options = ["--beam_size", "4", "--device", device, "--overwrite", "true"]
    call(["decode", "--ckpt_path", str(ckpt), "--input", str(source), "--output", str(out), *options])
    return written(out, 3)


def decode_translation(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    source = parallel_files(folder / "parallel")["validation"][0]
    out = folder / "translation.out"
    options = ["--beam_size", "5", "--device", device, "--overwrite", "true"]
    call(["decode", "--ckpt_path", str(ckpt), "--input", str(source), "--output", str(out), *options])
    return written(out, len(source.read_text(encoding="utf-8").splitlines()))


def transcribe(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    wavs = [str(tone_wav(folder / f"tone{i}.wav")) for i in range(2)]
    out = folder / "transcripts.tsv"
    options = ["--beam_size", "4", "--device", device, "--overwrite", "true"]
    call(["transcribe", "--ckpt_path", str(ckpt), "--input", *wavs, "--output", str(out), *options])
    return written(out, len(wavs), keyed=True)


def predict_classifier(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    source = folder / "sentences.txt"
    source.write_text("the cat is big\nthe lamp is old here\n", encoding="utf-8")
    out = folder / "labels.out"
    options = ["--format", "text", "--device", device, "--overwrite", "true"]
    call(["predict", "--ckpt_path", str(ckpt), "--input", str(source), "--output", str(out), *options])
    return written(out, 2)


def predict_tagger(ckpt: Path, folder: Path, device: str) -> tuple[str, str]:
    source = conllu_files(folder / "conllu")["validation"]
    out = folder / "tagged.conllu"
    options = ["--device", device, "--overwrite", "true"]
    call(["predict", "--ckpt_path", str(ckpt), "--input", str(source), "--output", str(out), *options])
    return written(out, len(source.read_text(encoding="utf-8").splitlines()))


# (row name, config, verb): one row each.
VERBS: list[tuple[str, str, Callable[[Path, Path, str], tuple[str, str]]]] = [
    ("generate", "generation/char_lstm", generate),
    ("decode g2p beam 4", "transduction/g2p_bilstm_attention", decode_g2p),
    ("decode translation beam 5", "transduction/translation_spm_bigru_luong", decode_translation),
    ("transcribe beam 4", "transduction/speech_ctc_bilstm", transcribe),
    ("predict classify", "classification/tsv_word_bigru_attention", predict_classifier),
    ("predict label", "labelling/ud_pos_charbilstm", predict_tagger),
]


def checkpoint(ctx: Context, name: str) -> Path:
    """last.ckpt of a fits-section run of ``name``, trained now if there is none."""
    config = CONFIGS / f"{name}.yaml"
    run_dir = run_dir_of(ctx.workdir, config, ctx.precisions)
    if run_dir is None:
        folder = Path(ctx.workdir) / "fits" / name
        run_job(Job(str(config), str(folder), ctx.precisions[:1], ctx.accelerator, ctx.steps))
        run_dir = run_dir_of(ctx.workdir, config, ctx.precisions)
    if run_dir is None:
        raise RuntimeError(f"no checkpoint: fitting {name} failed (see the fits rows)")
    return run_dir / "checkpoints" / "last.ckpt"


def run(ctx: Context, emit: Emitter) -> None:
    import torch

    torch.set_num_threads(max(1, min(8, ctx.cpus)))
    for item, name, verb in VERBS:
        if ctx.left() < 10:
            emit.row(item, "SKIP", "section time budget spent")
            continue
        with emit.guard(item):
            start = time.perf_counter()
            folder = Path(ctx.workdir) / "cli" / item.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            ckpt = checkpoint(ctx, name)
            result, detail = verb(ckpt, folder, ctx.device)
            emit.row(item, result, f"{name}: {detail}", time.perf_counter() - start)
