"""CPU speed of exported graphs against the PyTorch model they came from, side by side in one run: a
classifier, a CRF tagger with character features, a CTC recognizer and a language model's step
(generation), each run as the verbs run them: ``torch`` (the task in eager mode, padding packed
away), ``torch.export`` (the ``seqlab export --format torch-export`` program) and ``onnxruntime``
(``--format onnx`` in ONNX Runtime), all three through the same batches.

The models have random weights at realistic sizes (speed does not depend on what they learnt); the
``agree`` column says the exported outputs match eager PyTorch (the largest difference of the
log-probabilities or probabilities, and whether labels, Viterbi tags, greedy CTC transcripts or greedy
tokens are identical). Repeats are interleaved (each backend once, then again) so that load on a shared
machine hits all alike; the table shows median rates and their ratio to ``torch``::

    python benchmarks/export_speed.py --threads 2 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqlab.inference.export.bundle import open_graph, read_bundle, write_bundle  # noqa: E402
from seqlab.inference.export.classifier_graphs import classifier_graphs  # noqa: E402
from seqlab.inference.export.ctc_graphs import ctc_graphs  # noqa: E402
from seqlab.inference.export.lm_graphs import lm_graphs  # noqa: E402
from seqlab.inference.export.runtime import ExportedLanguageModel, ExportedRecognizer  # noqa: E402
from seqlab.inference.export.tagger_graphs import tagger_graphs  # noqa: E402
from seqlab.inference.export.verb import exporter_output_hidden  # noqa: E402
from seqlab.nn import AcousticConfig, ClassifierConfig, RecurrentLMConfig, TaggerConfig  # noqa: E402
from seqlab.nn.ctc import ctc_greedy_decode  # noqa: E402
from seqlab.nn.pooling import lengths_to_mask  # noqa: E402
from seqlab.tasks import ClassificationTask, GenerationTask, LabellingTask, SpeechRecognitionTask  # noqa: E402

BACKENDS = {"torch-export": "torch", "onnx": "onnxruntime"}
WIDTHS = (11, 13, 22, 7, 30)  # the table's columns


def padded_ids(vocab: int, lengths: torch.Tensor, extra: tuple[int, ...] = ()) -> torch.Tensor:
    ids = torch.randint(1, vocab, (len(lengths), int(lengths.max()), *extra))
    mask = lengths_to_mask(lengths, ids.size(1))
    return ids * mask.view(*mask.shape, *(1 for _ in extra))


def batches(count: int, size: int, low: int, high: int) -> list[torch.Tensor]:
    return [torch.randint(low, high + 1, (size,)) for _ in range(count)]


def export_all(task: Any, build: Callable[[Any], list], kind: str, folder: Path) -> dict[str, Any]:
    """The task's graphs in both formats, read back."""
    found = {}
    for fmt in BACKENDS:
        with exporter_output_hidden():
            write_bundle(folder / f"{kind}-{fmt}", kind, fmt, build(task), {}, {})  # type: ignore[arg-type]
        found[fmt] = read_bundle(folder / f"{kind}-{fmt}")
    return found


def classifier_case(folder: Path) -> tuple[str, str, list, dict[str, Callable]]:
    net = ClassifierConfig(embedding_size=128, hidden_size=256, num_layers=1, dropout=0.0)
    task = ClassificationTask(5000, ["a", "b", "c", "d"], net).eval()
    bundles = export_all(task, classifier_graphs, "classification", folder)
    inputs = [(padded_ids(5000, n), n) for n in batches(8, 64, 5, 60)]
    runs = {"torch": lambda ids, n: task(ids, n).float().softmax(-1)}
    for fmt, bundle in bundles.items():
        graph = open_graph(bundle, "classifier", BACKENDS[fmt], torch.get_num_threads())
        runs[BACKENDS[fmt] if fmt == "onnx" else "torch.export"] = lambda ids, n, g=graph: g(
            ids=ids, lengths=n
        )[1]
    return "classifier", "texts/s", inputs, runs


def tagger_case(folder: Path) -> tuple[str, str, list, dict[str, Callable]]:
    net = TaggerConfig(word_embedding_size=100, hidden_size=128, dropout=0.0, crf=True)
    task = LabellingTask(5000, ["O", "B-X", "I-X", "B-Y", "I-Y"], 80, net).eval()
    bundles = export_all(task, tagger_graphs, "tagging", folder)
    inputs = []
    for n in batches(8, 32, 3, 40):
        char_lengths = padded_ids(12, n)
        chars = padded_ids(80, char_lengths.flatten()).view(len(n), int(n.max()), -1)
        inputs.append((padded_ids(5000, n), n, chars, char_lengths))

    def eager(words: torch.Tensor, n: torch.Tensor, chars: torch.Tensor, cl: torch.Tensor) -> list:
        return task.model.decode(task.model(words, n, chars, cl), n)

    runs: dict[str, Callable] = {"torch": eager}
    for fmt, bundle in bundles.items():
        graph = open_graph(bundle, "tagger", BACKENDS[fmt], torch.get_num_threads())

        def exported(words, n, chars, cl, g=graph):  # type: ignore[no-untyped-def]
            tags = g(words=words, lengths=n, chars=chars, char_lengths=cl)[1].tolist()
            return [row[:k] for row, k in zip(tags, n.tolist(), strict=True)]

        runs["onnxruntime" if fmt == "onnx" else "torch.export"] = exported
    return "CRF tagger", "sentences/s", inputs, runs


def ctc_case(folder: Path) -> tuple[str, str, list, dict[str, Callable]]:
    net = AcousticConfig(hidden_size=256, num_layers=3, dropout=0.0)
    task = SpeechRecognitionTask(30, 80, net).eval()
    bundles = export_all(task, ctc_graphs, "speech recognition", folder)
    inputs = [(torch.randn(8, int(n.max()), 80), n) for n in batches(2, 8, 200, 600)]
    runs = {"torch": lambda f, n: ctc_greedy_decode(*task(f, n))}
    for fmt, bundle in bundles.items():
        recognizer = ExportedRecognizer(bundle, BACKENDS[fmt])
        runs["onnxruntime" if fmt == "onnx" else "torch.export"] = lambda f, n, r=recognizer: (
            ctc_greedy_decode(*r(f, n))
        )
    return "CTC greedy", "utterances/s", inputs, runs


def lm_case(folder: Path) -> tuple[str, str, list, dict[str, Callable]]:
    task = GenerationTask(100, RecurrentLMConfig(embedding_size=64, hidden_size=512, num_layers=2)).eval()
    bundles = export_all(task, lm_graphs, "language model", folder)
    steps = 100

    def greedy(step: Callable) -> Callable:
        def run(prompt: torch.Tensor) -> list[int]:
            out, state = step(prompt, None)
            tokens = []
            for _ in range(steps):
                token = out[:, -1].argmax(-1)
                tokens.append(int(token[0]))
                out, state = step(token[:, None], state)
            return tokens

        return run

    runs = {"torch": greedy(task)}
    for fmt, bundle in bundles.items():
        runs["onnxruntime" if fmt == "onnx" else "torch.export"] = greedy(
            ExportedLanguageModel(bundle, BACKENDS[fmt])
        )
    return "LM greedy", "tokens/s", [(torch.randint(0, 100, (1, 10)),)], runs


def items(case: str, inputs: list) -> int:
    if case == "LM greedy":
        return 100 * len(inputs)
    return sum(len(args[1]) for args in inputs)


def agreement(reference: list, other: list) -> str:
    """``same`` or the largest difference of float outputs and whether their argmax agrees."""
    diffs, same = [], True
    for want, got in zip(reference, other, strict=True):
        if isinstance(want, torch.Tensor):
            diffs.append(float((want - got).abs().max()))
            same &= torch.equal(want.argmax(-1), got.argmax(-1))
        else:
            same &= want == got
    return ("identical" if same else "DIFFERENT") + (f", max diff {max(diffs):.1e}" if diffs else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per configuration")
    parser.add_argument("--cases", default="classifier,tagger,ctc,lm", help="which models, comma-separated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {args.threads}, median of {args.repeats} interleaved repeats", flush=True)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        cases = {"classifier": classifier_case, "tagger": tagger_case, "ctc": ctc_case, "lm": lm_case}
        for make in (cases[name] for name in args.cases.split(",")):
            case, unit, inputs, runs = make(Path(tmp))
            outputs = {name: [run(*a) for a in inputs] for name, run in runs.items()}  # warm-up too
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):
                for name, run in runs.items():
                    start = time.perf_counter()
                    for a in inputs:
                        run(*a)
                    times[name].append(time.perf_counter() - start)
            n = items(case, inputs)
            base = n / statistics.median(times["torch"])
            for name in runs:
                rate = n / statistics.median(times[name])
                agree = "reference" if name == "torch" else agreement(outputs["torch"], outputs[name])
                row = (case, name, f"{rate:,.1f} {unit}", f"{rate / base:.2f}x", agree)
                print("  ".join(str(v).ljust(w) for v, w in zip(row, WIDTHS, strict=True)), flush=True)


if __name__ == "__main__":
    main()
