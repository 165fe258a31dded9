"""Greedy and sampling search for encoder-decoder models, one hypothesis per sentence; and the one
import place of every search (beam search lives in ``beam_search``, the shared rules and the
``StepDecoder`` protocol in ``search_rules``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqlab.nn.beam_search import beam_search, gnmt_length_penalty
from seqlab.nn.sampling import sample_next
from seqlab.nn.search_rules import (
    Hypothesis,
    StepDecoder,
    check_min_len,
    length_limits,
    restrict_tokens,
)

__all__ = [
    "Hypothesis",
    "StepDecoder",
    "beam_search",
    "gnmt_length_penalty",
    "greedy_search",
    "sample_search",
]


def _row_search(
    model: StepDecoder,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    limits: torch.Tensor,
    min_len: int,
    pick: Callable[[torch.Tensor], torch.Tensor],
) -> list[Hypothesis]:
    """One hypothesis per sentence, ``pick`` choosing each next token from masked log-probs [N, V].

    Finished sentences are dropped from the batch (``model.reorder``) so the steps shrink as they end.
    """
    batch, device = src.size(0), src.device
    if batch == 0:
        return []
    out = torch.full((batch, int(limits.max())), model.pad_id, dtype=torch.long, device=device)
    n_tokens = torch.zeros(batch, dtype=torch.long, device=device)
    log_prob = torch.zeros(batch, dtype=torch.float32, device=device)
    rows = torch.arange(batch, device=device)  # the sentence of each live row
    tokens = torch.full((batch,), model.bos_id, dtype=torch.long, device=device)
    state = model.start(src, src_lengths)
    t = 0
    while True:
        step_log_probs, state = model.step(tokens, state)
        step_log_probs = restrict_tokens(step_log_probs, model, allow_eos=t >= min_len)
        tokens = pick(step_log_probs)
        log_prob[rows] += step_log_probs.gather(1, tokens[:, None]).squeeze(1)
        ended = tokens == model.eos_id
        out[rows, t] = tokens
        t += 1
        n_tokens[rows] = t - ended.long()
        live = ~ended & (limits[rows] > t)
        if not live.any():
            break
        if not live.all():
            keep = live.nonzero().squeeze(1)
            state = model.reorder(state, keep)
            rows, tokens = rows[keep], tokens[keep]
    out_list, lengths, scores = out.tolist(), n_tokens.tolist(), log_prob.tolist()
    return [
        Hypothesis(tokens=seq[:n], score=lp, log_prob=lp)
        for seq, n, lp in zip(out_list, lengths, scores, strict=True)
    ]


@torch.no_grad()
def greedy_search(
    model: StepDecoder,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int,
    max_len_ratio: float | None = None,
    min_len: int = 0,
) -> list[Hypothesis]:
    """The most likely next token at every step, one hypothesis per sentence of ``src`` [B, S]."""
    check_min_len(min_len)
    limits = length_limits(src_lengths.to(src.device), max_len, max_len_ratio)
    return _row_search(model, src, src_lengths, limits, min_len, lambda lp: lp.argmax(dim=-1))


@torch.no_grad()
def sample_search(
    model: StepDecoder,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    max_len_ratio: float | None = None,
    min_len: int = 0,
) -> list[Hypothesis]:
    """One sampled hypothesis per sentence (temperature, top-k and nucleus as in ``sample_next``).

    Temperature 0 is greedy. ``log_prob`` is the model's log-probability of the sample, not that of the
    tempered, filtered distribution it was drawn from.
    """
    check_min_len(min_len)
    limits = length_limits(src_lengths.to(src.device), max_len, max_len_ratio)
    return _row_search(
        model,
        src,
        src_lengths,
        limits,
        min_len,
        lambda lp: sample_next(lp, temperature, top_k, top_p, generator),
    )
