"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import torch

from seqlab.inference.loader import load_task
from seqlab.inference.options import SampleSettings, TrainedModel
from seqlab.nn import generate as sample


def sample_texts(model: TrainedModel, settings: SampleSettings) -> list[str]:
    """Samples of a trained language model, each the prompt and its continuation."""
    path = model.checkpoint("generate")
    if not settings.prompt:
        raise SystemExit("seqlab generate: the prompt must not be empty")
    device = model.torch_device()
    task, tokenizer = load_task(path, device, "generate")
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


def generate(model: TrainedModel, settings: SampleSettings) -> None:
    """``seqlab generate`` (its options parsed by ``inference.options``): print the samples."""
    texts = sample_texts(model, settings)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
