"""A recurrent sequence classifier (many-to-one): embedding -> recurrent stack -> pooling -> classes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlab.nn.pooling import PoolingKind, SequencePooling
from seqlab.nn.recurrent import Cell, RecurrentStack


@dataclass(frozen=True)
class ClassifierConfig:
    """The architecture of a :class:`RecurrentClassifier` (the ``net`` of ``ClassificationTask``).

    Attributes:
        cell: recurrent cell (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``, ``mingru``, ``minlstm``).
        embedding_size: token embedding width.
        hidden_size: recurrent state width per direction.
        num_layers: stacked recurrent layers.
        bidirectional: read the sequence in both directions.
        dropout: dropout on embeddings, between layers and before the output layer.
        pooling: ``last`` (each direction's final state), ``mean``, ``max`` or ``attention`` (learned; see
            :class:`SequencePooling`).
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
    """

    cell: Cell = "lstm"
    embedding_size: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.1
    pooling: PoolingKind = "last"
    orthogonal_init: bool = True
    forget_bias: float | None = 1.0


class RecurrentClassifier(nn.Module):
    """Classify right-padded token sequences (``vocab_size`` token ids, ``num_classes`` outputs); padding is
    packed away, so it never changes a prediction."""

    def __init__(
        self, vocab_size: int, num_classes: int, config: ClassifierConfig = ClassifierConfig()
    ) -> None:
        super().__init__()
        c = config
        self.embedding = nn.Embedding(vocab_size, c.embedding_size)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = RecurrentStack.from_config(c, c.embedding_size)
        self.pooling = SequencePooling(c.pooling, self.rnn.output_size, c.bidirectional)
        self.output = nn.Linear(self.rnn.output_size, num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B, num_classes] for right-padded ids [B, T] with lengths [B] (all >= 1)."""
        hidden, _ = self.rnn(self.drop(self.embedding(ids)), lengths=lengths)
        return self.output(self.drop(self.pooling(hidden, lengths)))
