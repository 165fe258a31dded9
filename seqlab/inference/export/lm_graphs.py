"""A recurrent language model's step graph: one token per row and the recurrent state in, the next
token's log-probabilities and the new state out. Sampling stays on the host, which feeds the state
back (:class:`seqlab.inference.export.runtime.ExportedLanguageModel`)."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.inference.export.bundle import ExportError, Graph
from seqlab.nn.language_model import RecurrentLM
from seqlab.tasks.language_model import LanguageModelTask


class LanguageModelStep(nn.Module):
    """``(ids [B], h [L, B, H][, c [L, B, H]]) -> (log_probs [B, V], h[, c])`` (``c`` for LSTMs)."""

    def __init__(self, model: RecurrentLM) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        logits, state = self.model(ids[:, None], h if c is None else (h, c))
        log_probs = logits[:, 0].float().log_softmax(-1)
        return (log_probs, *state) if isinstance(state, tuple) else (log_probs, state)


def lm_graphs(task: LanguageModelTask) -> list[Graph]:
    model = task.model
    if not isinstance(model, RecurrentLM):
        raise ExportError(
            f"seqlab export runs recurrent language models (GenerationTask); a {type(task).__name__} "
            "does not export"
        )
    rnn = model.rnn
    batch = 3
    shape = (rnn.num_layers * (2 if rnn.bidirectional else 1), batch, rnn.hidden_size)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.embedding.num_embeddings, (batch,), generator=generator)
    state = [torch.randn(shape, generator=generator) for _ in range(2 if rnn.cell == "lstm" else 1)]
    names = ["h", "c"][: len(state)]
    dynamic = {"ids": {0: "batch"}, **{name: {1: "batch"} for name in names}}
    graph = Graph(
        "lm_step",
        LanguageModelStep(model),
        (ids, *state),
        ("ids", *names),
        ("log_probs", *(f"{name}_out" for name in names)),
        dynamic,
    )
    return [graph]
