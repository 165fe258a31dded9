"""Decoding for encoder-decoder models: greedy, beam and sampling search over a one-step-at-a-time decoder.

Conventions shared by every search here:

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

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from seqlab.nn.sampling import sample_next

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


def gnmt_length_penalty(length: float | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """``((5 + length) / 6) ** alpha`` (Wu et al. 2016): dividing a log-prob by it offsets the bias to short
    outputs; 1 at length 1 and everywhere for alpha 0, growing with length for alpha > 0."""
    return ((5 + length) / 6) ** alpha


def _length_limits(src_lengths: torch.Tensor, max_len: int, max_len_ratio: float | None) -> torch.Tensor:
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


def _check_common(min_len: int) -> None:
    if min_len < 0:
        raise ValueError(f"min_len must be >= 0, got {min_len}")


def _restrict(log_probs: torch.Tensor, model: StepDecoder, allow_eos: bool) -> torch.Tensor:
    """A float32 copy of ``log_probs`` with PAD, BOS (and EOS unless allowed) set to -inf."""
    banned = {model.pad_id, model.bos_id} - {model.eos_id}
    if not allow_eos:
        banned.add(model.eos_id)
    index = torch.tensor(sorted(banned), device=log_probs.device)
    return log_probs.float().index_fill(1, index, NEG_INF)


def _ban_repeated_ngrams(log_probs: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """-inf for every token that would complete, after ``history`` [N, t], an n-gram already in it."""
    t = history.size(1)
    if t < n:
        return log_probs
    windows = history.unfold(1, n, 1)  # [N, t - n + 1, n]: every n-gram so far
    prefix = history[:, t - n + 1 :]  # the n - 1 tokens the next token would extend
    match = (windows[..., :-1] == prefix[:, None, :]).all(dim=-1)
    hits = torch.zeros_like(log_probs).scatter_add_(1, windows[..., -1], match.to(log_probs.dtype))
    return log_probs.masked_fill(hits > 0, NEG_INF)


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
        step_log_probs = _restrict(step_log_probs, model, allow_eos=t >= min_len)
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
    _check_common(min_len)
    limits = _length_limits(src_lengths.to(src.device), max_len, max_len_ratio)
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
    _check_common(min_len)
    limits = _length_limits(src_lengths.to(src.device), max_len, max_len_ratio)
    return _row_search(
        model,
        src,
        src_lengths,
        limits,
        min_len,
        lambda lp: sample_next(lp, temperature, top_k, top_p, generator),
    )


class _Finished:
    """The ``n_best`` best finished hypotheses of every sentence, best first (empty slots score -inf).

    Only the best ``n_best`` are ever returned and a finished hypothesis's score never changes, so
    keeping just those (rather than every finished hypothesis) loses nothing.
    """

    def __init__(self, batch: int, n_best: int, horizon: int, pad_id: int, device: torch.device) -> None:
        self.score = torch.full((batch, n_best), NEG_INF, device=device)
        self.log_prob = torch.full((batch, n_best), NEG_INF, device=device)
        self.tokens = torch.full((batch, n_best, horizon), pad_id, dtype=torch.long, device=device)
        self.n_tokens = torch.zeros((batch, n_best), dtype=torch.long, device=device)

    def add(
        self,
        sent: torch.Tensor,
        log_prob: torch.Tensor,
        tokens: torch.Tensor,
        n_tokens: int,
        length: int,
        alpha: float,
    ) -> None:
        """Offer candidates [S, C] (-inf: not a candidate) with ``tokens`` [S, C, H] to sentences ``sent``."""
        score = log_prob / gnmt_length_penalty(length, alpha)
        all_score = torch.cat([self.score[sent], score], dim=1)
        best = all_score.topk(self.score.size(1), dim=1).indices
        self.score[sent] = all_score.gather(1, best)
        self.log_prob[sent] = torch.cat([self.log_prob[sent], log_prob], dim=1).gather(1, best)
        all_tokens = torch.cat([self.tokens[sent], tokens], dim=1)
        self.tokens[sent] = all_tokens.gather(1, best[..., None].expand(-1, -1, all_tokens.size(2)))
        new_n = torch.full_like(log_prob, n_tokens, dtype=torch.long)
        self.n_tokens[sent] = torch.cat([self.n_tokens[sent], new_n], dim=1).gather(1, best)

    def worst(self, sent: torch.Tensor) -> torch.Tensor:
        """The n_best-th best score of each sentence [S]; -inf while it has fewer finished hypotheses."""
        return self.score[sent, -1]

    def hypotheses(self) -> list[list[Hypothesis]]:
        result = []
        for scores, log_probs, tokens, lengths in zip(
            self.score.tolist(),
            self.log_prob.tolist(),
            self.tokens.tolist(),
            self.n_tokens.tolist(),
            strict=True,
        ):
            result.append(
                [
                    Hypothesis(tokens=seq[:n], score=score, log_prob=lp)
                    for score, lp, seq, n in zip(scores, log_probs, tokens, lengths, strict=True)
                    if math.isfinite(lp)
                ]
            )
        return result


@torch.no_grad()
def beam_search(
    model: StepDecoder,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    beam_size: int = 5,
    n_best: int = 1,
    max_len: int = 100,
    max_len_ratio: float | None = None,
    min_len: int = 0,
    length_penalty: float = 0.0,
    no_repeat_ngram_size: int = 0,
) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses per sentence (best first) by ``log_prob / gnmt_length_penalty``.

    All sentences' beams run as one flat batch of B * beam_size rows. Each step ranks the 2K best
    extensions of a sentence's K beams: an EOS extension among the first K finishes a hypothesis, and
    the first K non-EOS extensions become the next beams (so beam size 1 is greedy search). At the first
    step only one beam per sentence is live, so beams never duplicate.

    A sentence stops at its length limit, where its live beams finish as they are, or as soon as it
    has ``n_best`` finished hypotheses and no live beam can beat the worst of them: log-probs only fall,
    so a beam's best possible score is its log-prob over the largest length penalty it could still
    reach. Stopped sentences leave the batch. Fewer than ``n_best`` hypotheses come back only when fewer
    than ``n_best`` outputs have a finite log-probability.

    ``no_repeat_ngram_size`` n > 0 forbids any token that would repeat an n-gram of generated tokens
    already in the hypothesis.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    if no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0, got {no_repeat_ngram_size}")
    _check_common(min_len)
    batch, device, k = src.size(0), src.device, beam_size
    if batch == 0:
        return []
    limits = _length_limits(src_lengths.to(device), max_len, max_len_ratio)
    horizon = int(limits.max())
    finished = _Finished(batch, n_best, horizon, model.pad_id, device)

    state = model.start(src, src_lengths)
    state = model.reorder(state, torch.arange(batch, device=device).repeat_interleave(k))
    sent = torch.arange(batch, device=device)  # sentences still searched; their rows are sentence-major
    beam_log_prob = torch.full((batch, k), NEG_INF, device=device)
    beam_log_prob[:, 0] = 0.0
    history = torch.full((batch * k, horizon), model.pad_id, dtype=torch.long, device=device)
    tokens = torch.full((batch * k,), model.bos_id, dtype=torch.long, device=device)
    beam_offsets = torch.arange(k, device=device)
    t = 0
    while True:
        step_log_probs, state = model.step(tokens, state)
        step_log_probs = _restrict(step_log_probs, model, allow_eos=t >= min_len)
        if no_repeat_ngram_size:
            step_log_probs = _ban_repeated_ngrams(step_log_probs, history[:, :t], no_repeat_ngram_size)
        n_sent, vocab = sent.numel(), step_log_probs.size(1)
        candidates = (beam_log_prob.reshape(-1, 1) + step_log_probs).view(n_sent, k * vocab)
        top_log_prob, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        parent = torch.arange(n_sent, device=device)[:, None] * k + top_index // vocab  # flat row
        top_token = top_index % vocab
        is_eos = top_token == model.eos_id

        # All candidates of a step have the same length, so ranking by log-prob is ranking by score.
        eos_finish = is_eos.clone()
        eos_finish[:, k:] = False
        if eos_finish.any():
            finished.add(
                sent,
                top_log_prob.masked_fill(~eos_finish, NEG_INF),
                history[parent],
                n_tokens=t,
                length=t + 1,
                alpha=length_penalty,
            )

        # There are at most K EOS extensions (one per beam), so the 2K hold at least K others.
        position = torch.arange(top_token.size(1), device=device)
        order_key = position + is_eos.long() * top_token.size(1)
        chosen = order_key.topk(k, dim=1, largest=False).indices
        beam_log_prob = top_log_prob.gather(1, chosen)
        parent = parent.gather(1, chosen).flatten()
        tokens = top_token.gather(1, chosen).flatten()
        history = history[parent]
        history[:, t] = tokens
        t += 1

        at_limit = limits[sent] <= t
        if at_limit.any():
            finished.add(
                sent,
                beam_log_prob.masked_fill(~at_limit[:, None], NEG_INF),
                history.view(n_sent, k, horizon),
                n_tokens=t,
                length=t,
                alpha=length_penalty,
            )
        best_penalty = torch.maximum(
            torch.as_tensor(gnmt_length_penalty(t + 1, length_penalty), device=device),
            gnmt_length_penalty(limits[sent].float(), length_penalty),
        )
        best_possible = (beam_log_prob / best_penalty[:, None]).max(dim=1).values
        done = at_limit | (best_possible <= finished.worst(sent))
        if done.all():
            break
        if done.any():
            keep = (~done).nonzero().squeeze(1)
            rows = (keep[:, None] * k + beam_offsets).flatten()
            sent, beam_log_prob = sent[keep], beam_log_prob[keep]
            parent, tokens, history = parent[rows], tokens[rows], history[rows]
        state = model.reorder(state, parent)
    return finished.hypotheses()
