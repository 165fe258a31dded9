"""A synthetic long-range task: the label of a sequence of T random tokens is its *first* token.

Everything the model needs is T-1 steps back, behind T-1 distractors drawn from the same
vocabulary, so accuracy against T shows how far each cell type carries information (chance is
1/vocab). Plain PyTorch over :class:`seqlab.nn.RecurrentStack`: at most a few thousand small steps per
model, no Trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.diagnose.options import LongRangeSettings
from seqlab.nn import RecurrentStack
from seqlab.nn.recurrent import Cell


def first_token_batch(
    batch_size: int, length: int, vocab_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids [B, T] and their labels [B] (the first token)."""
    ids = torch.randint(vocab_size, (batch_size, length), generator=generator)
    return ids, ids[:, 0].clone()


class LastStepClassifier(nn.Module):
    """Embedding -> recurrent stack -> linear head on the last step's output."""

    def __init__(
        self,
        cell: Cell,
        vocab_size: int,
        hidden_size: int,
        embedding_size: int = 16,
        num_layers: int = 1,
        forget_bias: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = RecurrentStack(cell, embedding_size, hidden_size, num_layers, forget_bias=forget_bias)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits [B, vocab] for ids [B, T]."""
        out, _ = self.rnn(self.embedding(ids))
        return self.head(out[:, -1])


# Offsets that keep the data generators' seeds apart from every run's model seed.
_TRAIN_DATA, _HELD_OUT = 1_000_000, 2_000_000


def train_first_token(
    cell: Cell, length: int, steps: int, settings: LongRangeSettings | None = None, seed: int | None = None
) -> tuple[LastStepClassifier, float]:
    """Train a fresh classifier on sequences of ``length`` for ``steps`` (fewer once solved); returns it
    and its held-out accuracy. ``seed`` (default ``settings.seed``) seeds model, data and held-out set."""
    s = settings or LongRangeSettings()
    seed = s.seed if seed is None else seed
    torch.manual_seed(seed)
    model = LastStepClassifier(cell, s.vocab_size, s.hidden_size, s.embedding_size, forget_bias=s.forget_bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
    train_data = torch.Generator().manual_seed(seed + _TRAIN_DATA)
    recent: list[float] = []
    for _ in range(steps):
        ids, labels = first_token_batch(s.batch_size, length, s.vocab_size, train_data)
        loss = F.cross_entropy(model(ids), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), s.clip_norm)
        optimizer.step()
        recent = [*recent[-49:], loss.item()]
        if len(recent) == 50 and sum(recent) / 50 < s.solved_loss:
            break
    return model, accuracy(model, length, s, seed)


@torch.no_grad()
def accuracy(model: LastStepClassifier, length: int, settings: LongRangeSettings, seed: int) -> float:
    """Accuracy on a held-out set that depends only on ``seed`` and the task (the same for every cell)."""
    model.eval()
    held_out = torch.Generator().manual_seed(seed + _HELD_OUT)
    ids, labels = first_token_batch(settings.eval_size, length, settings.vocab_size, held_out)
    return float((model(ids).argmax(-1) == labels).float().mean())


def accuracy_vs_length(
    cells: Sequence[Cell],
    lengths: Sequence[int],
    steps: int,
    settings: LongRangeSettings | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
) -> dict[str, list[float]]:
    """Held-out accuracy of each cell type, in ``lengths`` order, averaged over ``settings.repeats``
    fresh models; ``progress(cell, length, seed, accuracy)`` is called after each (seconds apart)."""
    s = settings or LongRangeSettings()
    table: dict[str, list[float]] = {}
    for cell in cells:
        for length in lengths:
            accuracies = []
            for seed in range(s.seed, s.seed + s.repeats):
                accuracies.append(train_first_token(cell, length, steps, s, seed)[1])
                if progress is not None:
                    progress(cell, length, seed, accuracies[-1])
            table.setdefault(cell, []).append(sum(accuracies) / len(accuracies))
    return table
