"""``seqlab generate``: sample text from a trained language model."""

from __future__ import annotations

import torch
from jsonargparse import auto_cli

from seqlab.engine import run_dir as runs
from seqlab.loading import load_task
from seqlab.nn import generate as sample


def generate(
    ckpt_path: str | None = None,
    prompt: str = "\n",
    max_new_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
    run_name: str | None = None,
    root_dir: str = "runs",
    device: str = "auto",
) -> list[str]:
    """Sample text from a trained language model.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        prompt: text to continue.
        max_new_tokens: tokens to sample after the prompt.
        temperature: softmax temperature; 0 is greedy.
        top_k: sample only among the k most likely tokens.
        top_p: sample only from the smallest set of tokens with this much probability (nucleus).
        seed: random seed for reproducible samples.
        num_samples: independent samples to draw.
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """
    path = runs.checkpoint_path(ckpt_path, run_name, root_dir, "generate")
    if not prompt:
        raise SystemExit("seqlab generate: the prompt must not be empty")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    task, tokenizer = load_task(path, device, "generate")
    ids = torch.as_tensor(tokenizer.encode(prompt), dtype=torch.long, device=device)
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    out = sample(task, ids.expand(num_samples, -1), max_new_tokens, temperature, top_k, top_p, generator)
    return [prompt + tokenizer.detokenize(row.tolist()) for row in out]


def generate_main(argv: list[str]) -> None:
    """``seqlab generate``: print the samples."""
    texts = auto_cli(generate, args=argv)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)
