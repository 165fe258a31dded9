"""A recurrent sequence classifier (many-to-one): embedding -> recurrent stack -> pooling -> classes."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.nn.pooling import PoolingKind, SequencePooling
from seqlab.nn.recurrent import Cell, RecurrentStack


class RecurrentClassifier(nn.Module):
    """Classify right-padded token sequences; padding is packed away, so it never changes a prediction.

    Args:
        vocab_size: number of token ids.
        num_classes: output classes.
        cell: recurrent cell (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``, ``mingru``, ``minlstm``).
        embedding_size: token embedding width.
        hidden_size: recurrent state width per direction.
        num_layers: stacked recurrent layers.
        bidirectional: read the sequence in both directions.
        dropout: dropout on embeddings, between layers and before the output layer.
        pooling: ``last``, ``mean``, ``max`` or ``attention`` (see :class:`SequencePooling`).
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        cell: Cell = "lstm",
        embedding_size: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pooling: PoolingKind = "last",
        orthogonal_init: bool = True,
        forget_bias: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.drop = nn.Dropout(dropout)
        self.rnn = RecurrentStack(
            cell,
            embedding_size,
            hidden_size,
            num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            orthogonal_init=orthogonal_init,
            forget_bias=forget_bias,
        )
        self.pooling = SequencePooling(pooling, self.rnn.output_size, bidirectional)
        self.output = nn.Linear(self.rnn.output_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes] for right-padded ids [B, T] with lengths [B] (all >= 1)."""
        hidden, _ = self.rnn(self.drop(self.embedding(ids)), lengths=lengths)
        return self.output(self.drop(self.pooling(hidden, lengths)))
