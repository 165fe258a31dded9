"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import sys
from typing import Any

import torch

from seqlab.inference.loader import load_for_verb, model_path
from seqlab.inference.options import Runtime, SampleSettings, TrainedModel
from seqlab.nn import generate as sample


def sample_texts(model: TrainedModel, runtime: Runtime, settings: SampleSettings) -> list[str]:
    """Samples of a trained language model, each the prompt and its continuation (drawn
    ``runtime.batch_size`` at a time; default all at once)."""
    path = model_path(model, "generate", runtime)
    trained = load_for_verb(path, "generate", runtime)
    task, tokenizer, device = trained.task, trained.tokenizer, trained.task.device
    assert tokenizer is not None  # a language model has one
    ids = torch.as_tensor(trained.encode(settings.prompt), dtype=torch.long, device=device)
    if (note := unknown_note(settings.prompt, ids.tolist(), tokenizer)) is not None:
        print(f"seqlab generate: {note}", file=sys.stderr)
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


def unknown_note(prompt: str, ids: list[int], tokenizer: Any) -> str | None:
    """What of ``prompt`` the model has never seen (its tokens became ``<unk>``, which the samples then
    continue from): the count and the characters, or ``None`` if all is known."""
    unknown = sum(i == tokenizer.unk_id for i in ids)
    if not unknown:
        return None
    chars = list(dict.fromkeys(c for c in prompt if list(tokenizer.encode(c)) == [tokenizer.unk_id]))
    shown = f": {', '.join(map(repr, chars[:10]))}{', ...' if len(chars) > 10 else ''}" if chars else ""
    noun = "token is" if unknown == 1 else "tokens are"
    return f"{unknown} prompt {noun} unknown to the model and read as <unk>{shown}"


def generate(model: TrainedModel, runtime: Runtime, settings: SampleSettings) -> None:
    """``seqlab generate`` (its options parsed by ``inference.options``): print the samples."""
    texts = sample_texts(model, runtime, settings)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
