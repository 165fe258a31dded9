"""Sampling from next-token distributions: temperature, top-k, nucleus (top-p), and greedy."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqlab.nn.recurrent import State

StepFn = Callable[[torch.Tensor, State | None], tuple[torch.Tensor, State]]


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the smallest set with mass >= top_p."""
    logits = logits.clone()
    if top_k is not None and 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits[logits < kth] = float("-inf")
    if top_p is not None and 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the mass strictly before it already reaches top_p (the best always stays).
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits`` [B, V]; temperature 0 is greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits.float() / temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    step: StepFn,
    prompt: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue each prompt row [B, P] by ``max_new_tokens`` sampled ids; returns [B, max_new_tokens].

    ``step(ids, state) -> (logits, state)`` is any recurrent model; the prompt is read in one pass.
    """
    if prompt.size(1) == 0:
        raise ValueError("the prompt must hold at least one token")
    logits, state = step(prompt, None)
    out = []
    for i in range(max_new_tokens):
        token = sample_next(logits[:, -1], temperature, top_k, top_p, generator)
        out.append(token)
        if i + 1 < max_new_tokens:
            logits, state = step(token[:, None], state)
    return torch.stack(out, dim=1) if out else prompt.new_zeros(prompt.size(0), 0)
