"""A linear-chain conditional random field over per-token emission scores, with optional tag constraints.

All arithmetic runs in float32 with autocast off: the forward algorithm sums many log-space terms, and
bfloat16's 8-bit mantissa would make the partition function (and so the loss) visibly wrong.
"""

from __future__ import annotations

import re

import torch
from torch import nn

# Score given to forbidden transitions: finite (no inf - inf = NaN anywhere) but exp() of it is exactly 0.
FORBIDDEN = -1e4

_SCHEME_TAG = re.compile(r"^([BIES])-(.+)$")


class LinearChainCRF(nn.Module):
    """Tag-sequence scores: emissions + ``start[y_1]`` + sum of ``transitions[y_{t-1}, y_t]`` + ``end[y_T]``.

    Masks are prefix masks [B, T] (True on the first ``length`` positions, every length >= 1).

    Args:
        num_tags: number of tags K.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        # Always registered (all allowed by default) so checkpoints carry the constraints with them.
        self.register_buffer("allowed", torch.ones(num_tags, num_tags, dtype=torch.bool))
        self.register_buffer("start_allowed", torch.ones(num_tags, dtype=torch.bool))
        self.register_buffer("end_allowed", torch.ones(num_tags, dtype=torch.bool))

    def constrain(
        self, allowed: torch.Tensor, start_allowed: torch.Tensor, end_allowed: torch.Tensor
    ) -> None:
        """Forbid transitions (``allowed[i, j]`` False: tag j may not follow tag i), first and last tags."""
        k = self.num_tags
        if allowed.shape != (k, k) or start_allowed.shape != (k,) or end_allowed.shape != (k,):
            raise ValueError(f"constraints must be [{k}, {k}], [{k}] and [{k}]")
        self.allowed.copy_(allowed.bool())
        self.start_allowed.copy_(start_allowed.bool())
        self.end_allowed.copy_(end_allowed.bool())

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Float32 transition, start and end scores with the forbidden entries replaced by FORBIDDEN."""
        transitions = self.transitions.float().masked_fill(~self.allowed, FORBIDDEN)
        start = self.start.float().masked_fill(~self.start_allowed, FORBIDDEN)
        end = self.end.float().masked_fill(~self.end_allowed, FORBIDDEN)
        return transitions, start, end

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z [B]: logsumexp of the scores of all tag sequences (the forward algorithm)."""
        with torch.autocast(emissions.device.type, enabled=False):
            emissions = emissions.float()
            transitions, start, end = self._scores()
            alpha = start + emissions[:, 0]  # [B, K]
            for t in range(1, emissions.size(1)):
                step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
                alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
            return torch.logsumexp(alpha + end, dim=1)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score [B] of the given tag sequences; tags at padded positions are ignored (any value)."""
        with torch.autocast(emissions.device.type, enabled=False):
            emissions = emissions.float()
            transitions, start, end = self._scores()
            tags = tags.masked_fill(~mask, 0)
            weights = mask.float()
            emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [B, T]
            total = start[tags[:, 0]] + (emitted * weights).sum(1)
            if tags.size(1) > 1:
                steps = transitions[tags[:, :-1], tags[:, 1:]]  # [B, T - 1]
                total = total + (steps * weights[:, 1:]).sum(1)
            last = tags.gather(1, (mask.sum(1, keepdim=True) - 1)).squeeze(1)
            return total + end[last]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood [B] of the gold tags (>= 0 up to rounding)."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
        """The highest-scoring tag sequence per example (each as long as its mask) and its score [B]."""
        with torch.no_grad(), torch.autocast(emissions.device.type, enabled=False):
            emissions = emissions.float()
            transitions, start, end = self._scores()
            batch, steps, k = emissions.shape
            best = start + emissions[:, 0]
            identity = torch.arange(k, device=emissions.device).expand(batch, k)
            backpointers = []
            for t in range(1, steps):
                step, pointer = (best.unsqueeze(2) + transitions).max(dim=1)
                valid = mask[:, t].unsqueeze(1)
                best = torch.where(valid, step + emissions[:, t], best)
                # Past the end the pointer is the identity, so backtracking walks through padding unchanged.
                backpointers.append(torch.where(valid, pointer, identity))
            scores, tag = (best + end).max(dim=1)
            path = [tag]
            for pointer in reversed(backpointers):
                tag = pointer.gather(1, tag.unsqueeze(1)).squeeze(1)
                path.append(tag)
            tags = torch.stack(path[::-1], dim=1).tolist()
            lengths = mask.sum(1).tolist()
            return [row[:n] for row, n in zip(tags, lengths, strict=True)], scores

    def viterbi_tensors(
        self, emissions: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`viterbi` as tensors for exported graphs: tags [B, T] (past a sentence's end, its last
        tag) and scores [B], from two ``scan``s over time (a loop that ``torch.export`` and ONNX keep
        with a dynamic length). Both scans run over T + 1 steps, the first opening with the start
        scores and the last a padding step, so no scan is ever shorter than two steps."""
        from torch._higher_order_ops.scan import scan

        emissions = emissions.float()
        transitions, start, end = self._scores()
        batch, steps, k = emissions.shape
        mask = torch.arange(steps, device=emissions.device)[None, :] < lengths[:, None]
        frames = torch.cat([emissions, emissions.new_zeros(batch, 1, k)], 1).transpose(0, 1)
        valid = torch.cat([mask, mask.new_zeros(batch, 1)], 1).transpose(0, 1).unsqueeze(2)
        first = (torch.arange(steps + 1, device=emissions.device) == 0).view(-1, 1, 1)
        diagonal = torch.eye(k, dtype=torch.bool, device=emissions.device)
        opening = torch.zeros_like(transitions).masked_fill(~diagonal, float("-inf"))
        identity = torch.arange(k, device=emissions.device).expand(batch, k)

        def forward_step(best: torch.Tensor, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            frame, here, is_first = xs
            step, pointer = (best.unsqueeze(2) + torch.where(is_first, opening, transitions)).max(dim=1)
            return torch.where(here, step + frame, best).clone(), torch.where(here, pointer, identity)

        best, pointers = scan(forward_step, start.expand(batch, k).contiguous(), [frames, valid, first])
        scores, last = (best + end).max(dim=1)

        def backward_step(tag: torch.Tensor, pointer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return pointer.gather(1, tag.unsqueeze(1)).squeeze(1), tag.clone()

        _, tags = scan(backward_step, last, pointers, reverse=True)
        return tags.transpose(0, 1)[:, :steps], scores


def _parse(tag: str) -> tuple[str, str | None]:
    """(prefix, label) of a scheme tag; anything without a B-/I-/E-/S- prefix counts as outside (O)."""
    match = _SCHEME_TAG.match(tag)
    return (match.group(1), match.group(2)) if match else ("O", None)


def scheme_constraints(tags: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(allowed [K, K], start_allowed [K], end_allowed [K]) for a BIO (IOB2) or BIOES tag set.

    The scheme is BIOES when any tag has an E- or S- prefix, BIO when any has B- or I-; otherwise there are
    no constraints. BIO: I-X only after B-X or I-X (so never first). BIOES: I-X/E-X only after B-X/I-X,
    B-X/I-X only followed by I-X/E-X, and a sequence may not end on B-X or I-X. Tags without a prefix
    (O, or anything else such as a padding label) are treated as outside.
    """
    k = len(tags)
    allowed = torch.ones(k, k, dtype=torch.bool)
    start_allowed = torch.ones(k, dtype=torch.bool)
    end_allowed = torch.ones(k, dtype=torch.bool)
    parsed = [_parse(tag) for tag in tags]
    prefixes = {prefix for prefix, _ in parsed}
    bioes = bool(prefixes & {"E", "S"})
    if not bioes and not prefixes & {"B", "I"}:
        return allowed, start_allowed, end_allowed
    continuing = {"I", "E"} if bioes else {"I"}
    for j, (to_prefix, to_label) in enumerate(parsed):
        if to_prefix in continuing:
            start_allowed[j] = False
        if bioes and to_prefix in ("B", "I"):
            end_allowed[j] = False
        for i, (from_prefix, from_label) in enumerate(parsed):
            inside = from_prefix in ("B", "I")  # an entity is open after tag i
            if to_prefix in continuing:
                allowed[i, j] = inside and from_label == to_label
            elif bioes and inside:
                allowed[i, j] = False  # an open entity must continue or end with its own I-/E-
    return allowed, start_allowed, end_allowed
