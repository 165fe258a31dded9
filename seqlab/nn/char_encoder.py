"""Character-level word representations (Lample et al. 2016): a BiRNN over each word's characters."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.nn.padded_recurrence import graph_mode_active
from seqlab.nn.recurrent import Cell, RecurrentStack


class CharWordEncoder(nn.Module):
    """Encode every word of a batch by the final states of a bidirectional RNN over its characters.

    Only real words are run (packed, so character padding is never read); padding words
    (``char_lengths == 0``) get zero vectors.

    Args:
        char_vocab_size: number of character ids.
        char_embedding_size: character embedding width.
        hidden_size: recurrent state width per direction.
        cell: recurrent cell (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``, ``mingru``, ``minlstm``).
    """

    def __init__(
        self, char_vocab_size: int, char_embedding_size: int = 25, hidden_size: int = 25, cell: Cell = "lstm"
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(char_vocab_size, char_embedding_size)
        self.rnn = RecurrentStack(cell, char_embedding_size, hidden_size, num_layers=1, bidirectional=True)
        self.hidden_size = hidden_size

    @property
    def output_size(self) -> int:
        return 2 * self.hidden_size

    def forward(self, chars: torch.Tensor, char_lengths: torch.Tensor) -> torch.Tensor:
        """Word vectors [B, T, 2 * hidden_size] for chars [B, T, C] and char_lengths [B, T]."""
        batch, words, width = chars.shape
        flat_lengths = char_lengths.reshape(-1)
        if graph_mode_active():
            return self._every_word(chars, flat_lengths).view(batch, words, self.output_size)
        real = (flat_lengths > 0).nonzero(as_tuple=True)[0]
        if real.numel() == 0:  # pack_padded_sequence rejects an empty batch
            return self.embedding.weight.new_zeros(batch, words, self.output_size)
        embedded = self.embedding(chars.reshape(-1, width)[real])
        _, state = self.rnn(embedded, lengths=flat_lengths[real])
        h_n = state[0] if isinstance(state, tuple) else state  # [2, N, H]: forward, backward
        encoded = torch.cat([h_n[0], h_n[1]], dim=1)
        out = encoded.new_zeros(batch * words, self.output_size)
        out = out.index_copy(0, real, encoded)
        return out.view(batch, words, self.output_size)

    def _every_word(self, chars: torch.Tensor, flat_lengths: torch.Tensor) -> torch.Tensor:
        """[B * T, 2 * hidden_size]: every word slot run (padding words as one character, then zeroed),
        so an exported graph has no data-dependent shapes; real words get exactly what ``forward``
        gives them, each row being run on its own."""
        embedded = self.embedding(chars.reshape(flat_lengths.size(0), -1))
        _, state = self.rnn(embedded, lengths=flat_lengths.clamp(min=1))
        h_n = state[0] if isinstance(state, tuple) else state
        real = (flat_lengths > 0).unsqueeze(1).to(h_n.dtype)
        return torch.cat([h_n[0], h_n[1]], dim=1) * real
