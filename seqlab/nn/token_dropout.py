"""Word (token) dropout: in training, replace a random share of input ids by the unknown id, so the
unknown embedding learns what an unseen word looks like and the model stops leaning on any one word
(Iyyer et al. 2015; Lample et al. 2016). Every seqlab tokenizer gives the unknown token id 0."""

from __future__ import annotations

import torch

UNKNOWN_ID = 0


def replace_by_unknown(ids: torch.Tensor, rate: float) -> torch.Tensor:
    """``ids`` with each entry independently set to the unknown id with probability ``rate``
    (padding, also id 0 or ignored by length, is unaffected in effect)."""
    if rate <= 0:
        return ids
    drop = torch.rand(ids.shape, device=ids.device) < rate
    return ids.masked_fill(drop, UNKNOWN_ID)
