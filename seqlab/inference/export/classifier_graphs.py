"""A classifier's graph: token ids and lengths in, logits and label probabilities out."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.inference.export.bundle import Graph
from seqlab.nn.classifier import RecurrentClassifier
from seqlab.tasks.classification import ClassificationTask

# Traced on a batch whose lengths differ (a padded row): a graph that ignored lengths would differ.
EXAMPLE_LENGTHS = (7, 3, 5)


class ClassifierGraph(nn.Module):
    """``(ids [B, T], lengths [B]) -> (logits [B, labels], probabilities [B, labels])``, the
    probabilities as :meth:`ClassificationTask.probabilities` gives them (float32 softmax)."""

    def __init__(self, model: RecurrentClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(ids, lengths)
        return logits, logits.float().softmax(-1)


def example_ids(vocab_size: int, lengths: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random ids [B, max(lengths)] (padding 0) and their lengths, to trace a graph on."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, max(vocab_size, 2), (len(lengths), max(lengths)), generator=generator)
    lengths_t = torch.tensor(lengths)
    ids = ids.masked_fill(torch.arange(ids.size(1))[None, :] >= lengths_t[:, None], 0)
    return ids.clamp(max=vocab_size - 1), lengths_t


def classifier_graphs(task: ClassificationTask) -> list[Graph]:
    ids, lengths = example_ids(task.model.embedding.num_embeddings, EXAMPLE_LENGTHS)
    dynamic = {"ids": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}}
    graph = Graph(
        "classifier",
        ClassifierGraph(task.model),
        (ids, lengths),
        ("ids", "lengths"),
        ("logits", "probabilities"),
        dynamic,
    )
    return [graph]
