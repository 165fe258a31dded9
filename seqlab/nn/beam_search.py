"""Beam search for encoder-decoder models: the ``n_best`` best hypotheses per sentence by
``log_prob / gnmt_length_penalty``, all sentences' beams searched as one flat batch (rules and protocol
in ``search_rules``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.nn.search_rules import (
    NEG_INF,
    Hypothesis,
    StepDecoder,
    ban_repeated_ngrams,
    check_min_len,
    length_limits,
    restrict_tokens,
)


def gnmt_length_penalty(length: float | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """``((5 + length) / 6) ** alpha`` (Wu et al. 2016): dividing a log-prob by it offsets the bias to short
    outputs; 1 at length 1 and everywhere for alpha 0, growing with length for alpha > 0."""
    return ((5 + length) / 6) ** alpha


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


@dataclass
class _Beams:
    """The live beams of the sentences still searched: K rows per sentence, sentence-major."""

    sent: torch.Tensor  # [S] the sentence of each group of K rows
    log_prob: torch.Tensor  # [S, K]
    history: torch.Tensor  # [S * K, horizon] tokens generated so far, PAD after them
    tokens: torch.Tensor  # [S * K] each row's last token: what the next step is fed
    parent: torch.Tensor  # [S * K] the row of the decoder state each row continues


@dataclass
class _Extensions:
    """The 2K best one-token extensions of each sentence's beams [S, 2K], best first."""

    log_prob: torch.Tensor
    parent: torch.Tensor  # the flat row each extends
    token: torch.Tensor
    is_eos: torch.Tensor


def _check_beam_settings(beam_size: int, n_best: int, no_repeat_ngram_size: int, min_len: int) -> None:
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    if no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0, got {no_repeat_ngram_size}")
    check_min_len(min_len)


def _first_beams(batch: int, k: int, horizon: int, model: StepDecoder, device: torch.device) -> _Beams:
    """K rows per sentence, all at BOS; only the first is live (-inf for the others), so beams never
    duplicate at the first step."""
    log_prob = torch.full((batch, k), NEG_INF, device=device)
    log_prob[:, 0] = 0.0
    return _Beams(
        sent=torch.arange(batch, device=device),
        log_prob=log_prob,
        history=torch.full((batch * k, horizon), model.pad_id, dtype=torch.long, device=device),
        tokens=torch.full((batch * k,), model.bos_id, dtype=torch.long, device=device),
        parent=torch.arange(batch * k, device=device),
    )


def _extend(beams: _Beams, step_log_probs: torch.Tensor, k: int, eos_id: int) -> _Extensions:
    """Rank every beam's extensions by log-prob and keep each sentence's 2K best."""
    n_sent, vocab = beams.sent.numel(), step_log_probs.size(1)
    candidates = (beams.log_prob.reshape(-1, 1) + step_log_probs).view(n_sent, k * vocab)
    top_log_prob, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
    parent = torch.arange(n_sent, device=top_index.device)[:, None] * k + top_index // vocab
    token = top_index % vocab
    return _Extensions(top_log_prob, parent, token, token == eos_id)


def _finish_with_eos(
    finished: _Finished, beams: _Beams, ext: _Extensions, k: int, t: int, alpha: float
) -> None:
    """An EOS extension among a sentence's first K finishes a hypothesis (all candidates of a step
    have the same length, so ranking by log-prob is ranking by score)."""
    eos_finish = ext.is_eos.clone()
    eos_finish[:, k:] = False
    if eos_finish.any():
        log_prob = ext.log_prob.masked_fill(~eos_finish, NEG_INF)
        finished.add(beams.sent, log_prob, beams.history[ext.parent], n_tokens=t, length=t + 1, alpha=alpha)


def _next_beams(beams: _Beams, ext: _Extensions, k: int, t: int) -> _Beams:
    """The first K non-EOS extensions of each sentence, with token ``t`` written into their history.
    There are at most K EOS extensions (one per beam), so the 2K hold at least K others."""
    width = ext.token.size(1)
    order_key = torch.arange(width, device=ext.token.device) + ext.is_eos.long() * width
    chosen = order_key.topk(k, dim=1, largest=False).indices
    parent = ext.parent.gather(1, chosen).flatten()
    tokens = ext.token.gather(1, chosen).flatten()
    history = beams.history[parent]
    history[:, t] = tokens
    return _Beams(beams.sent, ext.log_prob.gather(1, chosen), history, tokens, parent)


def _finish_at_limit(
    finished: _Finished, beams: _Beams, at_limit: torch.Tensor, t: int, alpha: float
) -> None:
    """Sentences at their length limit: their live beams finish as they are (no EOS)."""
    if at_limit.any():
        n_sent, k = beams.log_prob.shape
        log_prob = beams.log_prob.masked_fill(~at_limit[:, None], NEG_INF)
        history = beams.history.view(n_sent, k, -1)
        finished.add(beams.sent, log_prob, history, n_tokens=t, length=t, alpha=alpha)


def _cannot_improve(
    finished: _Finished, beams: _Beams, limits: torch.Tensor, t: int, alpha: float
) -> torch.Tensor:
    """[S] whether no live beam can beat the n_best-th finished hypothesis: log-probs only fall, so a
    beam's best possible score is its log-prob over the largest length penalty it could still reach."""
    best_penalty = torch.maximum(
        torch.as_tensor(gnmt_length_penalty(t + 1, alpha), device=beams.log_prob.device),
        gnmt_length_penalty(limits[beams.sent].float(), alpha),
    )
    best_possible = (beams.log_prob / best_penalty[:, None]).max(dim=1).values
    return best_possible <= finished.worst(beams.sent)


def _keep_sentences(beams: _Beams, keep: torch.Tensor, k: int) -> _Beams:
    """Only the sentences at ``keep`` (indices into ``beams.sent``), with their K rows each."""
    rows = (keep[:, None] * k + torch.arange(k, device=keep.device)).flatten()
    return _Beams(
        beams.sent[keep], beams.log_prob[keep], beams.history[rows], beams.tokens[rows], beams.parent[rows]
    )


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

    All sentences' beams run as one flat batch of B * beam_size rows (the first step, where a sentence's
    beams are still alike, runs one row per sentence). Each step ranks the 2K best
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
    _check_beam_settings(beam_size, n_best, no_repeat_ngram_size, min_len)
    batch, device, k = src.size(0), src.device, beam_size
    if batch == 0:
        return []
    limits = length_limits(src_lengths.to(device), max_len, max_len_ratio)
    horizon = int(limits.max())
    finished = _Finished(batch, n_best, horizon, model.pad_id, device)
    beams = _first_beams(batch, k, horizon, model, device)
    # The first step feeds BOS to one row per sentence (its K beams are alike until they fork): the model
    # expands to K rows per sentence only with the first reorder, by parent rows // K.
    state = model.start(src, src_lengths)
    beams_per_state_row = k
    t = 0
    while True:
        step_log_probs, state = model.step(beams.tokens[::beams_per_state_row], state)
        if beams_per_state_row > 1:
            step_log_probs = step_log_probs.repeat_interleave(beams_per_state_row, dim=0)
        step_log_probs = restrict_tokens(step_log_probs, model, allow_eos=t >= min_len)
        if no_repeat_ngram_size:
            step_log_probs = ban_repeated_ngrams(step_log_probs, beams.history[:, :t], no_repeat_ngram_size)
        extensions = _extend(beams, step_log_probs, k, model.eos_id)
        _finish_with_eos(finished, beams, extensions, k, t, length_penalty)
        beams = _next_beams(beams, extensions, k, t)
        t += 1
        at_limit = limits[beams.sent] <= t
        _finish_at_limit(finished, beams, at_limit, t, length_penalty)
        done = at_limit | _cannot_improve(finished, beams, limits, t, length_penalty)
        if done.all():
            break
        if done.any():
            beams = _keep_sentences(beams, (~done).nonzero().squeeze(1), k)
        state = model.reorder(state, torch.div(beams.parent, beams_per_state_row, rounding_mode="floor"))
        beams_per_state_row = 1
    return finished.hypotheses()
