"""An acoustic encoder over feature frames (log-mel filterbanks) and a CTC model on top of it.

Speech has ~100 frames a second but a few characters: subsampling time before or inside the recurrent
stack makes long utterances cheap (each halving halves the recurrent steps of the layers above it)
while CTC still has enough frames to emit every label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from seqlab.nn.errors import NetSettingError
from seqlab.nn.padded_recurrence import graph_mode_active
from seqlab.nn.pooling import lengths_to_mask
from seqlab.nn.recurrent import Cell, RecurrentStack

Subsampling = Literal["none", "stack", "pyramid"]


def stack_frames(x: torch.Tensor, lengths: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each ``factor`` consecutive frames into one [B, ceil(T/k), k*F]; padding (and the
    missing tail of a last partial group) is zero, so a frame's value never depends on the batch."""
    if factor == 1:
        return x, lengths
    batch, frames, width = x.shape
    x = x * lengths_to_mask(lengths.to(x.device), frames)[..., None].to(x.dtype)
    if graph_mode_active():
        return _stack_by_index(x, factor), torch.div(lengths + factor - 1, factor, rounding_mode="floor")
    extra = (-frames) % factor
    if extra:
        x = torch.cat([x, x.new_zeros(batch, extra, width)], dim=1)
    x = x.reshape(batch, (frames + extra) // factor, factor * width)
    return x, torch.div(lengths + factor - 1, factor, rounding_mode="floor")


def _stack_by_index(x: torch.Tensor, factor: int) -> torch.Tensor:
    """:func:`stack_frames`' reshape as gathers, for exported graphs: a reshape of a padded length
    makes ``torch.export`` fix the frame count, an index does not."""
    frames = x.size(1)
    starts = torch.arange((frames + factor - 1) // factor, device=x.device) * factor
    parts = []
    for offset in range(factor):
        index = starts + offset
        inside = (index < frames)[None, :, None].to(x.dtype)
        parts.append(x.index_select(1, index.clamp(max=frames - 1)) * inside)
    return torch.cat(parts, dim=-1)


@dataclass(frozen=True)
class AcousticConfig:
    """The architecture of an :class:`AcousticEncoder` (the ``net`` of ``SpeechRecognitionTask``).

    Attributes:
        cell: ``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu`` or the scan cells ``mingru``, ``minlstm``.
        hidden_size: recurrent width per direction.
        num_layers: recurrent layers.
        bidirectional: read each utterance both ways.
        dropout: dropout between layers and on the encoder output.
        subsampling: ``none``, ``stack`` (concatenate frames before the first layer) or ``pyramid``
            (concatenate pairs between layers).
        subsampling_factor: time reduction (1 without subsampling; a power of two below
            ``2 ** num_layers`` for ``pyramid``).
        projection_size: a linear projection of the (stacked) frames to this width before the first
            layer (``None``: none).
    """

    cell: Cell = "lstm"
    hidden_size: int = 256
    num_layers: int = 3
    bidirectional: bool = True
    dropout: float = 0.2
    subsampling: Subsampling = "stack"
    subsampling_factor: int = 3
    projection_size: int | None = None


class AcousticEncoder(nn.Module):
    """Stacked (bi)directional LSTM/GRU over [B, T, F] feature frames, with optional subsampling.

    Subsampling: ``stack`` concatenates ``subsampling_factor`` consecutive frames before the first
    layer (cheapest: every layer runs at the reduced rate); ``pyramid`` concatenates adjacent pairs of
    a layer's outputs before the next layer (Listen, Attend and Spell's pyramidal BLSTM), halving time
    ``log2(subsampling_factor)`` times, after the first layers; ``none`` keeps every frame.

    Args:
        num_features: features per input frame.
        config: the architecture (:class:`AcousticConfig`).
    """

    def __init__(self, num_features: int, config: AcousticConfig = AcousticConfig()) -> None:
        super().__init__()
        c = config
        subsampling, factor, num_layers = c.subsampling, c.subsampling_factor, c.num_layers
        if subsampling not in ("none", "stack", "pyramid"):
            raise NetSettingError(f"subsampling must be none, stack or pyramid, got {subsampling!r}")
        if factor < 1 or (subsampling == "none" and factor != 1):
            raise NetSettingError(f"subsampling_factor must be 1 without subsampling, got {factor}")
        reductions = 0
        if subsampling == "pyramid":
            reductions = factor.bit_length() - 1
            if 1 << reductions != factor or reductions >= num_layers:
                raise NetSettingError(
                    f"pyramid subsampling_factor must be a power of two below 2**num_layers "
                    f"({1 << num_layers}), got {factor}"
                )
        self.subsampling, self.factor, self.reductions = subsampling, factor, reductions
        width = num_features * (factor if subsampling == "stack" else 1)
        self.projection = nn.Linear(width, c.projection_size) if c.projection_size else None
        width = c.projection_size or width
        directions = 2 if c.bidirectional else 1
        # Pyramid: one stack per layer (time halves between them); otherwise one fused multi-layer stack.
        sizes = [1] * num_layers if subsampling == "pyramid" else [num_layers]
        self.layers = nn.ModuleList()
        for index, layers in enumerate(sizes):
            self.layers.append(
                RecurrentStack(c.cell, width, c.hidden_size, layers, c.dropout, c.bidirectional)
            )
            width = c.hidden_size * directions * (2 if index < reductions else 1)
        self.dropout = nn.Dropout(c.dropout)
        self.output_size = c.hidden_size * directions

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames out for ``lengths`` frames in (each reduction rounds up: a partial group is a frame)."""
        if self.subsampling == "stack":
            return torch.div(lengths + self.factor - 1, self.factor, rounding_mode="floor")
        for _ in range(self.reductions):
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        return lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode [B, T, F] frames (``lengths`` [B]); returns [B, T', output_size] and lengths [B]."""
        x, lengths = features, lengths
        if self.subsampling == "stack":
            x, lengths = stack_frames(x, lengths, self.factor)
        if self.projection is not None:
            x = self.projection(x)
        for index, layer in enumerate(self.layers):
            if index:
                x = self.dropout(x)
            x, _ = layer(x, lengths=lengths)
            if index < self.reductions:
                x, lengths = stack_frames(x, lengths, 2)
        return self.dropout(x), lengths


class CTCModel(nn.Module):
    """An ``AcousticEncoder`` and a linear layer over ``vocab_size`` outputs (blank included), giving
    float32 log-probabilities (the softmax runs in float32 even under autocast, as CTC needs).

    Args:
        vocab_size: output labels including the blank.
        num_features: features per input frame.
        config: the encoder's architecture.
    """

    def __init__(self, vocab_size: int, num_features: int, config: AcousticConfig = AcousticConfig()) -> None:
        super().__init__()
        self.encoder = AcousticEncoder(num_features, config)
        self.output = nn.Linear(self.encoder.output_size, vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.encoder.output_lengths(lengths)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities [B, T', V] (float32) and output lengths [B]."""
        hidden, out_lengths = self.encoder(features, lengths)
        return self.output(hidden).float().log_softmax(dim=-1), out_lengths
