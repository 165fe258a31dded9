"""A recurrent next-token model: embedding -> recurrent stack -> vocabulary logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlab.nn.recurrent import Cell, RecurrentStack, State


def output_layers(
    embedding: nn.Embedding, hidden_size: int, tie_weights: bool
) -> tuple[nn.Module, nn.Linear]:
    """The projection and vocabulary layer of a language model; with ``tie_weights`` the output layer
    shares ``embedding``'s matrix (Press & Wolf 2017), behind a projection when the widths differ."""
    vocab_size, embedding_size = embedding.weight.shape
    if not tie_weights:
        return nn.Identity(), nn.Linear(hidden_size, vocab_size)
    projection = (
        nn.Linear(hidden_size, embedding_size, bias=False) if hidden_size != embedding_size else nn.Identity()
    )
    output = nn.Linear(embedding_size, vocab_size)
    output.weight = embedding.weight
    return projection, output


@dataclass(frozen=True)
class RecurrentLMConfig:
    """The architecture of a :class:`RecurrentLM` (the ``net`` of ``GenerationTask``).

    Attributes:
        cell: recurrent cell (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``, ``mingru``, ``minlstm``).
        embedding_size: token embedding width.
        hidden_size: recurrent state width.
        num_layers: stacked recurrent layers.
        dropout: dropout on embeddings, between layers and before the output layer.
        tie_weights: share the embedding matrix with the output layer (a projection is added when
            ``hidden_size`` differs from ``embedding_size``).
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
        layer_norm: normalise each recurrent layer's input (``None``: on for the scan cells only, see
            :class:`RecurrentStack`).
        residual: residual connections around each recurrent layer (``None``: on for the scan cells only).
    """

    cell: Cell = "lstm"
    embedding_size: int = 64
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    orthogonal_init: bool = True
    forget_bias: float | None = 1.0
    layer_norm: bool | None = None
    residual: bool | None = None


class RecurrentLM(nn.Module):
    """The Char-RNN family of language models, for characters or subwords, over ``vocab_size`` token ids."""

    def __init__(self, vocab_size: int, config: RecurrentLMConfig = RecurrentLMConfig()) -> None:
        super().__init__()
        c = config
        self.embedding = nn.Embedding(vocab_size, c.embedding_size)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = RecurrentStack.from_config(c, c.embedding_size)
        self.projection, self.output = output_layers(self.embedding, c.hidden_size, c.tie_weights)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits [B, T, V] for ids [B, T], and the state after the last step."""
        hidden, state = self.rnn(self.drop(self.embedding(ids)), state)
        return self.output(self.projection(self.drop(hidden))), state
