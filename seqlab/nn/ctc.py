"""Connectionist temporal classification (Graves et al. 2006): the loss with infeasible targets handled,
greedy decoding, and prefix beam search (Hannun et al. 2014; batched in ``ctc_prefix_search``).

Conventions: log-probabilities are [T, V] for one utterance or [B, T, V] for a batch, normalised over
the vocabulary, with the blank at index ``blank`` (0 by default). A *labelling* is a list of non-blank
label ids; its probability is the sum over every frame-level path (alignment) that collapses to it
(merge repeats, then drop blanks).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from seqlab.nn.ctc_prefix_search import PrefixScorer, ctc_prefix_beam_search_batch
from seqlab.nn.ctc_prefix_search_single import ctc_prefix_search_single, single_search_is_cheaper


def ctc_min_frames(targets: torch.Tensor | Sequence[int], target_lengths: torch.Tensor | None = None):
    """The fewest frames a CTC alignment of a target needs: its length plus one blank between each pair
    of equal adjacent labels ("aa" needs a, blank, a).

    ``targets`` is one labelling (a list or 1-D tensor; returns an int) or a padded batch [B, S] with
    ``target_lengths`` [B] (returns a long tensor [B]).
    """
    if target_lengths is None:
        labels = [int(t) for t in targets]
        return len(labels) + sum(a == b for a, b in itertools.pairwise(labels))
    targets = torch.as_tensor(targets)
    if targets.size(1) < 2:
        return target_lengths.clone()
    positions = torch.arange(1, targets.size(1), device=targets.device)
    repeats = (targets[:, 1:] == targets[:, :-1]) & (positions[None, :] < target_lengths[:, None])
    return target_lengths + repeats.sum(dim=1)


@dataclass
class CTCLossResult:
    """Per-utterance CTC losses (-log p(target | input), summed over frames; 0 where skipped), which
    utterances were feasible, and the frames each target needed and had (for the report)."""

    losses: torch.Tensor  # [B] float32
    feasible: torch.Tensor  # [B] bool
    needed: torch.Tensor  # [B] long: ctc_min_frames of each target
    frames: torch.Tensor  # [B] long: frames after subsampling

    @property
    def skipped(self) -> int:
        return int((~self.feasible).sum())

    def describe_skipped(self, ids: Sequence[object] | None = None, limit: int = 10) -> str:
        """A message naming the skipped utterances (by ``ids`` if given, else batch position)."""
        rows = torch.nonzero(~self.feasible).flatten().tolist()
        names = [str(ids[i]) if ids is not None else f"#{i}" for i in rows]
        parts = [
            f"{name} (needs {int(self.needed[i])} frames, has {int(self.frames[i])})"
            for name, i in zip(names, rows, strict=True)
        ]
        more = f", and {len(parts) - limit} more" if len(parts) > limit else ""
        return (
            f"skipped {len(rows)} of {self.feasible.numel()} utterances whose CTC target needs more "
            f"frames than the encoder outputs (target length plus repeated adjacent labels; lower the "
            f"subsampling factor or drop such utterances): " + ", ".join(parts[:limit]) + more
        )


def ctc_loss(
    log_probs: torch.Tensor,
    input_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
) -> CTCLossResult:
    """``F.ctc_loss`` in float32 with reduction ``none``, infeasible utterances excluded.

    An utterance whose target needs more frames than it has (``ctc_min_frames``) has probability 0 and
    an infinite loss: it is masked out (loss 0, no gradient) and reported through the result's
    ``feasible`` mask rather than turning the batch's loss into inf or NaN. ``zero_infinity`` stays on
    as a second guard. ``log_probs`` is [B, T, V] (normalised), ``targets`` [B, S] padded.
    """
    needed = ctc_min_frames(targets, target_lengths)
    input_lengths = input_lengths.to(needed.device)
    feasible = needed <= input_lengths
    losses = F.ctc_loss(
        log_probs.float().transpose(0, 1),
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction="none",
        zero_infinity=True,
    )
    losses = torch.where(feasible.to(losses.device), losses, torch.zeros_like(losses))
    return CTCLossResult(losses, feasible, needed, input_lengths)


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = 0
) -> list[list[int]]:
    """Best path decoding of a batch [B, T, V]: the most likely label per frame, repeats merged, blanks
    dropped. Frames at or past ``lengths`` [B] are ignored."""
    best = log_probs.argmax(dim=-1)  # [B, T]
    frames = best.size(1)
    previous = torch.cat([torch.full_like(best[:, :1], -1), best[:, :-1]], dim=1)
    keep = (best != blank) & (best != previous)
    if lengths is not None:
        keep &= torch.arange(frames, device=best.device)[None, :] < lengths.to(best.device)[:, None]
    return [row[mask].tolist() for row, mask in zip(best.cpu(), keep.cpu(), strict=True)]


def ctc_prefix_beam_search(
    log_probs: torch.Tensor,
    beam_size: int = 8,
    blank: int = 0,
    n_best: int = 1,
    prune: float | None = None,
    scorer: PrefixScorer | None = None,
) -> list[tuple[list[int], float]]:
    """The ``n_best`` most probable labellings of one utterance's [T, V] log-probabilities, best first,
    as (labels, log-score).

    Each prefix keeps two log-probabilities: of the paths so far ending in blank and ending in its last
    label, so a repeated label is only a new label after a blank. With a beam at least as large as the
    number of live prefixes the scores are the exact log p(labelling | input); smaller beams
    approximate. ``prune``: ignore, at each frame, non-blank labels whose log-probability is below this
    (e.g. ``math.log(1e-3)``; speeds up long inputs). ``scorer``: an optional bonus added to every
    prefix extension (a character n-gram log-probability, a word-list or insertion bonus), which then
    is part of the score; if it has a ``final(prefix)`` method, that is added when the utterance ends
    (see :class:`seqlab.nn.word_list.WordListScorer`).
    """
    if log_probs.dim() != 2:
        raise ValueError(f"expected [T, V] log-probabilities of one utterance, got {tuple(log_probs.shape)}")
    return ctc_beam_decode(log_probs[None], None, beam_size, blank, n_best, prune, scorer)[0]


def ctc_beam_decode(
    log_probs: torch.Tensor,
    lengths: torch.Tensor | None = None,
    beam_size: int = 8,
    blank: int = 0,
    n_best: int = 1,
    prune: float | None = None,
    scorer: PrefixScorer | None = None,
    method: Literal["auto", "batch", "single"] = "auto",
) -> list[list[tuple[list[int], float]]]:
    """:func:`ctc_prefix_beam_search` over each utterance of a batch [B, T, V] (up to its ``lengths``):
    all utterances together as tensors (``batch``), or one at a time in Python (``single``: faster where
    few labels pass ``prune``, as on a trained model's peaked posteriors); ``auto`` counts the work of
    each and takes the cheaper. The results are the same."""
    if beam_size < 1 or n_best < 1:
        raise ValueError(f"beam_size and n_best must be >= 1, got {beam_size} and {n_best}")
    if log_probs.size(0) == 0:
        return []
    frames = log_probs.size(1)
    lengths = torch.full((log_probs.size(0),), frames) if lengths is None else lengths.detach().cpu().long()
    if method == "auto":
        cheaper = single_search_is_cheaper(log_probs, lengths, beam_size, blank, prune)
        method = "single" if cheaper else "batch"
    if method == "batch":
        return ctc_prefix_beam_search_batch(log_probs, lengths, beam_size, blank, n_best, prune, scorer)
    return [
        ctc_prefix_search_single(utterance[: int(n)], beam_size, blank, n_best, prune, scorer)
        for utterance, n in zip(log_probs, lengths, strict=True)
    ]
