"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import torch

from seqlab.data.tokenizers.state import tokenizer_from_state
from seqlab.inference.export.runtime import ExportedLanguageModel, open_export
from seqlab.inference.loader import load_task
from seqlab.inference.options import Backend, SampleSettings, TrainedModel
from seqlab.nn import generate as sample


def sample_texts(model: TrainedModel, settings: SampleSettings, backend: Backend = Backend()) -> list[str]:
    """Samples of a trained language model (a checkpoint or an export folder), each the prompt and its
    continuation."""
    bundle = open_export(model.ckpt_path, backend.backend, "generate")
    path = bundle.folder if bundle else model.checkpoint("generate")
    if not settings.prompt:
        raise SystemExit("seqlab generate: the prompt must not be empty")
    device = model.torch_device()
    if bundle is None:
        task, tokenizer = load_task(path, device, "generate")
    else:
        device = "cpu"  # the exported graphs' inputs and outputs live on the host
        task, tokenizer = (
            ExportedLanguageModel(bundle, backend.backend),
            tokenizer_from_state(bundle.data_state["tokenizer"]),
        )
    ids = torch.as_tensor(tokenizer.encode(settings.prompt), dtype=torch.long, device=device)
    generator = torch.Generator(device=device)
    if settings.seed is not None:
        generator.manual_seed(settings.seed)
    else:
        generator.seed()
    s = settings
    out = sample(
        task, ids.expand(s.num_samples, -1), s.max_new_tokens, s.temperature, s.top_k, s.top_p, generator
    )
    return [s.prompt + tokenizer.detokenize(row.tolist()) for row in out]


def generate(model: TrainedModel, settings: SampleSettings, backend: Backend = Backend()) -> None:
    """``seqlab generate`` (its options parsed by ``inference.options``): print the samples."""
    texts = sample_texts(model, settings, backend)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
