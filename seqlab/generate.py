"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import dataclasses

import torch

from seqlab.loading import load_task
from seqlab.nn import generate as sample
from seqlab.verb_options import TrainedModel, parse_verb_options


@dataclasses.dataclass(frozen=True)
class SampleSettings:
    """What ``seqlab generate`` samples.

    Args:
        prompt: text to continue.
        max_new_tokens: tokens to sample after the prompt.
        temperature: softmax temperature; 0 is greedy.
        top_k: sample only among the k most likely tokens.
        top_p: sample only from the smallest set of tokens with this much probability (nucleus).
        seed: random seed for reproducible samples.
        num_samples: independent samples to draw.
    """

    prompt: str = "\n"
    max_new_tokens: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    num_samples: int = 1


def generate(model: TrainedModel, settings: SampleSettings) -> list[str]:
    """Sample text from a trained language model."""
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


def generate_main(argv: list[str]) -> None:
    """``seqlab generate``: print the samples."""
    texts = generate(
        *parse_verb_options("generate", generate.__doc__ or "", argv, (TrainedModel, SampleSettings))
    )
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
