"""A recurrent sequence labeller (one tag per token): BiLSTM(-CRF) with optional character features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from seqlab.nn.char_encoder import CharWordEncoder
from seqlab.nn.crf import LinearChainCRF
from seqlab.nn.pooling import lengths_to_mask
from seqlab.nn.recurrent import Cell, RecurrentStack

IGNORE_INDEX = -100
# A gold tag of validation or test data that the training split never had (UD ATIS's dev has one SYM):
# the model cannot predict it, so evaluation scores the token as wrong and leaves it out of the loss.
UNSEEN_TAG = -1


@dataclass(frozen=True)
class TaggerConfig:
    """The architecture of a :class:`RecurrentTagger` (the ``net`` of ``LabellingTask``).

    Attributes:
        word_embedding_size: word embedding width.
        char_embedding_size: character embedding width (with a character encoder).
        char_hidden_size: character BiLSTM width per direction (with a character encoder).
        cell: recurrent cell of the word-level stack (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``,
            ``mingru``, ``minlstm``).
        hidden_size: word-level recurrent state width per direction.
        num_layers: stacked word-level layers.
        bidirectional: read sentences in both directions.
        dropout: dropout on the token features, between layers and before the output layer.
        crf: score whole tag sequences with a linear-chain CRF (Viterbi decoding) instead of per token.
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
    """

    word_embedding_size: int = 100
    char_embedding_size: int = 25
    char_hidden_size: int = 25
    cell: Cell = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    crf: bool = False
    orthogonal_init: bool = True
    forget_bias: float | None = 1.0


class RecurrentTagger(nn.Module):
    """Per-token emissions over ``num_tags`` tags from word ids (``vocab_size``) and optionally characters
    (``char_vocab_size`` ids; 0: no character encoder), with an optional CRF on top."""

    def __init__(
        self, vocab_size: int, num_tags: int, char_vocab_size: int = 0, config: TaggerConfig = TaggerConfig()
    ) -> None:
        super().__init__()
        c = config
        self.embedding = nn.Embedding(vocab_size, c.word_embedding_size)
        self.char_encoder = (
            CharWordEncoder(char_vocab_size, c.char_embedding_size, c.char_hidden_size, c.cell)
            if char_vocab_size > 0
            else None
        )
        features = c.word_embedding_size + (self.char_encoder.output_size if self.char_encoder else 0)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = RecurrentStack.from_config(c, features)
        self.output = nn.Linear(self.rnn.output_size, num_tags)
        self.crf = LinearChainCRF(num_tags) if c.crf else None
        self.num_tags = num_tags

    def forward(
        self,
        words: torch.Tensor,
        lengths: torch.Tensor,
        chars: torch.Tensor | None = None,
        char_lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Emissions [B, T, num_tags] for right-padded words [B, T] with lengths [B] (all >= 1).

        ``chars`` [B, T, C] and ``char_lengths`` [B, T] are required with a character encoder and ignored
        without one."""
        features = self.embedding(words)
        if self.char_encoder is not None:
            if chars is None or char_lengths is None:
                raise ValueError("this tagger has a character encoder: pass chars and char_lengths")
            features = torch.cat([features, self.char_encoder(chars, char_lengths).to(features.dtype)], -1)
        hidden, _ = self.rnn(self.drop(features), lengths=lengths)
        return self.output(self.drop(hidden))

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean CRF negative log-likelihood per sentence, or token cross-entropy without padding; in float32.

        ``tags`` [B, T] may hold anything (conventionally -100) past each sentence's length."""
        mask = lengths_to_mask(lengths.to(emissions.device), emissions.size(1))
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask).mean()
        with torch.autocast(emissions.device.type, enabled=False):
            targets = tags.masked_fill(~mask, IGNORE_INDEX)
            return F.cross_entropy(
                emissions.float().reshape(-1, emissions.size(-1)),
                targets.reshape(-1),
                ignore_index=IGNORE_INDEX,
            )

    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Best tag ids per sentence, each list as long as its sentence: Viterbi with a CRF, else argmax."""
        if self.crf is not None:
            mask = lengths_to_mask(lengths.to(emissions.device), emissions.size(1))
            return self.crf.viterbi(emissions, mask)[0]
        best = emissions.argmax(-1).tolist()
        return [row[:n] for row, n in zip(best, lengths.tolist(), strict=True)]
