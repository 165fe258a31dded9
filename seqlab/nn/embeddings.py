"""Starting an embedding table from pretrained vectors (word2vec, GloVe), matched by token string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class PretrainedEmbeddings:
    """Where a task's embedding table starts from (a task argument, e.g. ``model.pretrained_embeddings``).

    Args:
        path: a word2vec or GloVe text-format file; its dimension must equal the embedding size.
        freeze: keep the whole table fixed during training (unmatched rows keep their random values).
        lowercase_fallback: a token missing from the file takes the vector of its lowercase form.
    """

    path: str
    freeze: bool = False
    lowercase_fallback: bool = True


@dataclass(frozen=True)
class EmbeddingCoverage:
    """How much of a vocabulary a file covered: ``matched`` of ``total`` rows were set from it."""

    matched: int
    total: int
    lowercase: int  # of ``matched``, the rows found only through their lowercase form
    unmatched: list[str]  # in id order

    @property
    def coverage(self) -> float:
        return self.matched / self.total if self.total else 0.0


def init_embedding_from(
    embedding: nn.Embedding,
    token_strings: Sequence[str],
    tokens: Sequence[str],
    vectors: np.ndarray | torch.Tensor,
    freeze: bool = False,
    lowercase_fallback: bool = True,
    source: str = "pretrained vectors",
) -> EmbeddingCoverage:
    """Copy ``vectors[j]`` into row ``i`` of ``embedding`` wherever ``token_strings[i] == tokens[j]``.

    Matching is by exact string, then (with ``lowercase_fallback``) by the lowercase token, so a
    lowercased file such as GloVe 6B still serves ``The``. Unmatched rows, and rows beyond the
    vocabulary (e.g. padding), keep their values. ``freeze`` stops gradients to the whole table.
    ``source`` names the vectors in errors (the file path).
    """
    vectors = torch.as_tensor(vectors)
    if vectors.dim() != 2 or vectors.size(0) != len(tokens):
        raise ValueError(
            f"{source}: expected {len(tokens)} vectors as a 2-D array, got shape {tuple(vectors.shape)}"
        )
    if vectors.size(1) != embedding.embedding_dim:
        raise ValueError(
            f"{source}: the vectors have {vectors.size(1)} dimensions but the model's embedding table has "
            f"{embedding.embedding_dim}; set the embedding size to {vectors.size(1)} or use another file"
        )
    if len(token_strings) > embedding.num_embeddings:
        raise ValueError(
            f"the vocabulary has {len(token_strings)} tokens but the embedding table only "
            f"{embedding.num_embeddings} rows"
        )
    index = {token: j for j, token in enumerate(tokens)}
    rows, sources, unmatched, lowercase = [], [], [], 0
    for i, token in enumerate(token_strings):
        j = index.get(token)
        if j is None and lowercase_fallback:
            j = index.get(token.lower())
            if j is not None:
                lowercase += 1
        if j is None:
            unmatched.append(token)
        else:
            rows.append(i)
            sources.append(j)
    weight = embedding.weight
    with torch.no_grad():
        if rows:
            picked = vectors[torch.tensor(sources)].to(device=weight.device, dtype=weight.dtype)
            weight[torch.tensor(rows, device=weight.device)] = picked
    if freeze:
        weight.requires_grad_(False)
    return EmbeddingCoverage(len(rows), len(token_strings), lowercase, unmatched)
