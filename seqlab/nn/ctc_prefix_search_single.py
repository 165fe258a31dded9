"""CTC prefix beam search of one utterance at a time, over dicts of prefixes in plain Python.

Its cost follows the work actually there (each live prefix times the labels that pass ``prune`` at a
frame, over the utterance's own frames), where the batched search (:mod:`.ctc_prefix_search`) pays a
fixed few dozen tensor operations per frame of the longest utterance. On a trained model's peaked
posteriors few labels pass and this one is faster; on flat ones the batched search is.
:func:`seqlab.nn.ctc.ctc_beam_decode` picks between them; both keep the same rules and tie order.
"""

from __future__ import annotations

import math

import torch

from seqlab.nn.ctc_prefix_search import PrefixScorer

NEG_INF = float("-inf")


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(max(low - high, -650.0)))


def ctc_prefix_search_single(
    log_probs: torch.Tensor,
    beam_size: int,
    blank: int = 0,
    n_best: int = 1,
    prune: float | None = None,
    scorer: PrefixScorer | None = None,
) -> list[tuple[list[int], float]]:
    """The ``n_best`` best labellings of one utterance's [T, V] log-probabilities, as
    :func:`seqlab.nn.ctc.ctc_prefix_beam_search` describes them."""
    frames = log_probs.detach().float().cpu().tolist()
    labels = [v for v in range(log_probs.size(1)) if v != blank]
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for frame in frames:
        candidates = labels if prune is None else [v for v in labels if frame[v] >= prune]
        blank_lp = frame[blank]
        made: dict[tuple[int, ...], list[float]] = {}  # in the order made: ties keep it
        for prefix, (p_blank, p_label) in beams.items():
            total = _logaddexp(p_blank, p_label)
            here = made.setdefault(prefix, [NEG_INF, NEG_INF])
            here[0] = _logaddexp(here[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            if last is not None:
                here[1] = _logaddexp(here[1], p_label + frame[last])
            for v in candidates:
                source = p_blank if v == last else total
                if source == NEG_INF:
                    continue
                gain = source + frame[v] + (scorer(prefix, v) if scorer is not None else 0.0)
                grown = made.setdefault((*prefix, v), [NEG_INF, NEG_INF])
                grown[1] = _logaddexp(grown[1], gain)
        ranked = sorted(made.items(), key=lambda item: _logaddexp(*item[1]), reverse=True)
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in ranked[:beam_size]}
    final = getattr(scorer, "final", None)  # a scorer may also score ending here (a word list does)
    ended = [
        (list(prefix), _logaddexp(pb, pl) + (final(prefix) if final is not None else 0.0))
        for prefix, (pb, pl) in beams.items()
    ]
    return sorted(ended, key=lambda item: item[1], reverse=True)[:n_best]


def single_search_is_cheaper(
    log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int, blank: int, prune: float | None
) -> bool:
    """Whether searching utterance by utterance costs less than the batched search, by a count of the
    work each does: the single search's per-prefix label steps over each utterance's frames, against
    the batched search's fixed cost per frame of the longest (measured on a 2-core AMD EPYC: a frame of
    the batched search costs about as much as 900 single-search steps plus 30 per utterance)."""
    frames = int(lengths.max())
    if frames == 0:
        return True
    scores = log_probs[:, :frames].detach().float()
    inside = torch.arange(frames)[None, :] < lengths[:, None].cpu()
    non_blank = torch.ones(scores.size(-1), dtype=torch.bool)
    non_blank[blank] = False
    if prune is None:
        passing = inside.sum() * (scores.size(-1) - 1)
    else:
        passing = ((scores[..., non_blank] >= prune).sum(-1) * inside).sum()
    steps = beam_size * (int(inside.sum()) + int(passing))
    batched = frames * (900 + 30 * log_probs.size(0))
    return steps < batched
