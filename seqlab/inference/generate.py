"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import torch

from seqlab.inference.loader import load_for_verb, model_path
from seqlab.inference.options import Runtime, SampleSettings, TrainedModel
from seqlab.nn import generate as sample


def sample_texts(model: TrainedModel, runtime: Runtime, settings: SampleSettings) -> list[str]:
    """Samples of a trained language model, each the prompt and its continuation (drawn
    ``runtime.batch_size`` at a time; default all at once)."""
    path = model_path(model, "generate", runtime)
    if not settings.prompt:
        raise SystemExit("seqlab generate: the prompt must not be empty")
    trained = load_for_verb(path, "generate", runtime)
    task, tokenizer, device = trained.task, trained.tokenizer, trained.task.device
    assert tokenizer is not None  # a language model has one
    ids = torch.as_tensor(trained.encode(settings.prompt), dtype=torch.long, device=device)
    generator = torch.Generator(device=device)
    if settings.seed is not None:
        generator.manual_seed(settings.seed)
    else:
        generator.seed()
    s, size = settings, runtime.batch(settings.num_samples)
    texts = []
    with trained.running():
        for start in range(0, s.num_samples, size):
            rows = ids.expand(min(size, s.num_samples - start), -1)
            out = sample(task, rows, s.max_new_tokens, s.temperature, s.top_k, s.top_p, generator)
            texts += [s.prompt + tokenizer.detokenize(row.tolist()) for row in out]
    return texts


def generate(model: TrainedModel, runtime: Runtime, settings: SampleSettings) -> None:
    """``seqlab generate`` (its options parsed by ``inference.options``): print the samples."""
    texts = sample_texts(model, runtime, settings)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
