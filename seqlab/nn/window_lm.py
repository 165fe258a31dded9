"""A fixed-window neural language model (Bengio et al., 2003): the last k tokens predict the next."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlab.nn.errors import NetSettingError
from seqlab.nn.language_model import output_layers


@dataclass(frozen=True)
class FixedWindowLMConfig:
    """The architecture of a :class:`FixedWindowLM` (the ``net`` of ``FixedWindowLMTask``).

    Attributes:
        context_size: k, the tokens each prediction sees (the current one and k - 1 before it).
        embedding_size: token embedding width.
        hidden_size: width of each tanh layer.
        num_layers: tanh hidden layers of the MLP (at least 1).
        dropout: dropout on the embeddings (the same in every window a token is in) and after every
            hidden layer.
        direct_connection: add Bengio's direct linear map from the embeddings to the logits.
        tie_weights: share the embedding matrix with the output layer (a projection is added when
            ``hidden_size`` differs from ``embedding_size``).
    """

    context_size: int = 16
    embedding_size: int = 64
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.0
    direct_connection: bool = False
    tie_weights: bool = False


class FixedWindowLM(nn.Module):
    """Embeddings of the previous ``context_size`` tokens, concatenated, through a tanh MLP to logits.

    The state carried between windows is the last ``context_size`` token ids of each stream ``[B, k]``,
    so a stream cut into windows gives exactly the logits of one pass. Before a stream's first token the
    history is a padding id (``vocab_size``) whose embedding is its own learned vector, so no real token
    stands in for "nothing yet". All positions are computed at once (``unfold``), without a time loop.
    """

    def __init__(self, vocab_size: int, config: FixedWindowLMConfig = FixedWindowLMConfig()) -> None:
        super().__init__()
        c = config
        if c.context_size < 1:
            raise NetSettingError(f"context_size must be at least 1, got {c.context_size}")
        if c.num_layers < 1:
            raise NetSettingError(f"num_layers must be at least 1, got {c.num_layers}")
        self.vocab_size, self.context_size = vocab_size, c.context_size
        self.embedding = nn.Embedding(vocab_size, c.embedding_size)
        # Kept apart from the table so the table is exactly the vocabulary (pretrained init, tying).
        self.padding = nn.Parameter(torch.randn(c.embedding_size))
        self.drop = nn.Dropout(c.dropout)
        layers: list[nn.Module] = []
        width = c.context_size * c.embedding_size
        for _ in range(c.num_layers):
            layers += [nn.Linear(width, c.hidden_size), nn.Tanh(), nn.Dropout(c.dropout)]
            width = c.hidden_size
        self.mlp = nn.Sequential(*layers)
        self.projection, self.output = output_layers(self.embedding, c.hidden_size, c.tie_weights)
        self.direct = (
            nn.Linear(c.context_size * c.embedding_size, vocab_size, bias=False)
            if c.direct_connection
            else None
        )

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> torch.Tensor:
        """The history of a fresh stream: ``context_size`` padding ids per row."""
        return torch.full((batch_size, self.context_size), self.vocab_size, dtype=torch.long, device=device)

    def forward(
        self, ids: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, T, V] for ids [B, T] and the last k ids; position t sees ids t-k+1..t (earlier
        ones from ``state``, padding at a stream's start)."""
        batch, steps = ids.shape
        k = self.context_size
        if state is None:
            state = self.initial_state(batch, ids.device)
        history = torch.cat([state, ids], dim=1)  # [B, k + T]
        pad = history == self.vocab_size
        embedded = self.embedding(history.masked_fill(pad, 0))
        embedded = torch.where(pad.unsqueeze(-1), self.padding.to(embedded.dtype), embedded)
        embedded = self.drop(embedded)  # before the k-fold copy below: k times less work
        # Windows of k consecutive embeddings ending at each input position, oldest first: [B, T, k * E].
        windows = embedded.unfold(1, k, 1)[:, 1:].transpose(2, 3).reshape(batch, steps, -1)
        logits = self.output(self.projection(self.mlp(windows)))
        if self.direct is not None:
            logits = logits + self.direct(windows)
        return logits, history[:, -k:].clone()
