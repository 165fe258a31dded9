"""What every search over a one-step-at-a-time decoder shares: the model protocol, the hypothesis, and
the rules below, enforced by the helpers here (greedy and sampling live in ``search``, beam search in
``beam_search``).

Conventions:

- A hypothesis's *length* is the number of generated tokens including its EOS (a hypothesis cut off at
  the length limit has no EOS, so its length is its token count). BOS is never counted.
- The length limit of a sentence is ``max_len`` or, with ``max_len_ratio``, ``min(max_len,
  ceil(max_len_ratio * src_length))``, at least 1; it bounds the length as defined above, so
  ``len(hypothesis.tokens) <= limit`` and a hypothesis shorter than its limit ended with EOS.
- ``min_len`` is the fewest tokens before EOS: EOS is forbidden while fewer than ``min_len`` were generated.
- PAD and BOS (unless one of them is EOS) are never generated. Log-probabilities are the model's own,
  not renormalised over what is left after such masking (or after sampling's temperature and filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

NEG_INF = float("-inf")


class StepDecoder(Protocol):
    """What a search needs from a model: encode once, then advance any batch of rows by one token.

    ``state`` is opaque to the searches. ``reorder(state, index)`` returns the rows of ``state`` picked
    (and repeated) by ``index`` [N']: that is how beams are forked and pruned and finished rows dropped,
    so a decoder whose state holds its own history stays consistent with the tokens it is fed.
    ``step`` must return normalised log-probabilities (all <= 0): beam search's stopping rule relies on
    a hypothesis's log-probability never growing.
    """

    bos_id: int
    eos_id: int
    pad_id: int

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Any:
        """Encode ``src`` [B, S] (``src_lengths`` [B]) once; the state has one row per sentence."""
        ...

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Feed ``tokens`` [N]; return next-token log-probabilities [N, V] (float32) and the new state."""
        ...

    def reorder(self, state: Any, index: torch.Tensor) -> Any:
        """The rows of ``state`` picked (and possibly repeated) by ``index`` [N']."""
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One decoded output.

    ``tokens`` exclude BOS and EOS; ``log_prob`` is the model's log-probability of them (and of EOS when
    one was generated); ``score`` is what hypotheses are ranked by: ``log_prob`` divided by the length
    penalty (equal to ``log_prob`` for greedy and sampling, and for beam search with alpha 0).
    """

    tokens: list[int]
    score: float
    log_prob: float


def length_limits(src_lengths: torch.Tensor, max_len: int, max_len_ratio: float | None) -> torch.Tensor:
    """Per-sentence length limit [B] (see the module docstring)."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    limits = torch.full_like(src_lengths, max_len)
    if max_len_ratio is not None:
        if max_len_ratio <= 0:
            raise ValueError(f"max_len_ratio must be > 0, got {max_len_ratio}")
        # The small slack keeps float noise (1.1 * 10 = 11.000000000000002) from adding a token.
        by_source = torch.ceil(src_lengths.double() * max_len_ratio - 1e-9).long()
        limits = torch.minimum(limits, by_source).clamp(min=1)
    return limits


def check_min_len(min_len: int) -> None:
    """Refuse a negative ``min_len`` (the fewest tokens before EOS)."""
    if min_len < 0:
        raise ValueError(f"min_len must be >= 0, got {min_len}")


def restrict_tokens(log_probs: torch.Tensor, model: StepDecoder, allow_eos: bool) -> torch.Tensor:
    """A float32 copy of ``log_probs`` with PAD, BOS (and EOS unless allowed) set to -inf."""
    banned = {model.pad_id, model.bos_id} - {model.eos_id}
    if not allow_eos:
        banned.add(model.eos_id)
    index = torch.tensor(sorted(banned), device=log_probs.device)
    return log_probs.float().index_fill(1, index, NEG_INF)


def ban_repeated_ngrams(log_probs: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """-inf for every token that would complete, after ``history`` [N, t], an n-gram already in it."""
    t = history.size(1)
    if t < n:
        return log_probs
    windows = history.unfold(1, n, 1)  # [N, t - n + 1, n]: every n-gram so far
    prefix = history[:, t - n + 1 :]  # the n - 1 tokens the next token would extend
    match = (windows[..., :-1] == prefix[:, None, :]).all(dim=-1)
    hits = torch.zeros_like(log_probs).scatter_add_(1, windows[..., -1], match.to(log_probs.dtype))
    return log_probs.masked_fill(hits > 0, NEG_INF)
