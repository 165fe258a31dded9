"""Pool a padded batch of recurrent outputs [B, T, F] into one vector per sequence, ignoring padding."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from seqlab.nn.errors import NetSettingError

PoolingKind = Literal["last", "mean", "max", "attention"]


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Prefix mask [B, T], True on the first ``lengths[b]`` positions; ``max_len`` defaults to the longest."""
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


class SequencePooling(nn.Module):
    """Many-to-one reduction of recurrent outputs, correct for right-padded batches.

    Args:
        kind: ``last`` (each direction's final state: the forward half at ``length - 1``, the backward half
            at position 0), ``mean`` or ``max`` over valid positions, or ``attention`` (additive attention,
            score_t = v^T tanh(W h_t + b), softmax over valid positions).
        input_size: features per step, ``hidden_size * directions``.
        bidirectional: the outputs are the forward and backward halves concatenated (matters for ``last``).
        attention_size: width of the attention's hidden layer (defaults to ``input_size``).
    """

    def __init__(
        self,
        kind: PoolingKind,
        input_size: int,
        bidirectional: bool,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in ("last", "mean", "max", "attention"):
            raise NetSettingError(f"pooling must be one of last, mean, max, attention; got {kind!r}")
        if kind == "last" and bidirectional and input_size % 2:
            raise NetSettingError(f"bidirectional outputs need an even input_size, got {input_size}")
        self.kind, self.input_size, self.bidirectional = kind, input_size, bidirectional
        # The weights of the latest attention forward pass [B, T] (zero on padding), for inspection.
        self.last_weights: torch.Tensor | None = None
        if kind == "attention":
            attention_size = attention_size or input_size
            self.attention = nn.Linear(input_size, attention_size)
            self.score = nn.Linear(attention_size, 1, bias=False)

    @property
    def output_size(self) -> int:
        return self.input_size

    def forward(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pool ``outputs`` [B, T, F] with ``lengths`` [B] (all >= 1) into [B, F]."""
        lengths = lengths.to(outputs.device)
        if self.kind == "last":
            return self._last(outputs, lengths)
        mask = lengths_to_mask(lengths, outputs.size(1)).unsqueeze(-1)
        # Zero the padding first: whatever sits there (even inf or NaN) must not leak through 0 * x.
        outputs = outputs.masked_fill(~mask, 0.0)
        if self.kind == "mean":
            return outputs.sum(1) / lengths.unsqueeze(1).to(outputs.dtype)
        if self.kind == "max":
            return outputs.masked_fill(~mask, float("-inf")).amax(1)
        scores = self.score(torch.tanh(self.attention(outputs))).squeeze(-1)
        scores = scores.masked_fill(~mask.squeeze(-1), float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(outputs.dtype)
        self.last_weights = weights.detach()
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)

    def _last(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The forward direction ends at ``length - 1``; the backward direction ends at position 0."""
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.size(2))
        at_end = outputs.gather(1, index).squeeze(1)
        if not self.bidirectional:
            return at_end
        half = outputs.size(2) // 2
        return torch.cat([at_end[:, :half], outputs[:, 0, half:]], dim=1)
