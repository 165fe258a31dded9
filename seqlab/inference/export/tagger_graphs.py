"""A tagger's graph: word ids, lengths (and each word's characters, with a character encoder) in,
emissions and the best tags out, the CRF's Viterbi inside the graph (``LinearChainCRF.viterbi_tensors``)."""

from __future__ import annotations

import torch
from torch import nn

from seqlab.inference.export.bundle import Graph
from seqlab.inference.export.classifier_graphs import EXAMPLE_LENGTHS, example_ids
from seqlab.nn.tagger import RecurrentTagger
from seqlab.tasks.labelling import LabellingTask


class TaggerGraph(nn.Module):
    """``(words [B, T], lengths [B][, chars [B, T, C], char_lengths [B, T]]) -> (emissions [B, T, K],
    tags [B, T])``; tags past a sentence's end are to be cut off by its length."""

    def __init__(self, model: RecurrentTagger) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        words: torch.Tensor,
        lengths: torch.Tensor,
        chars: torch.Tensor | None = None,
        char_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        emissions = self.model(words, lengths, chars, char_lengths)
        if self.model.crf is None:
            return emissions, emissions.argmax(-1)
        return emissions, self.model.crf.viterbi_tensors(emissions, lengths)[0]


def example_chars(char_vocab_size: int, lengths: torch.Tensor, width: int = 4) -> tuple[torch.Tensor, ...]:
    """Random character ids [B, T, width] and lengths [B, T] (0 on padding words, words of unlike
    lengths), to trace the character encoder on."""
    batch, steps = lengths.size(0), int(lengths.max())
    generator = torch.Generator().manual_seed(1)
    char_lengths = torch.randint(1, width + 1, (batch, steps), generator=generator)
    char_lengths = char_lengths.masked_fill(torch.arange(steps)[None, :] >= lengths[:, None], 0)
    chars = torch.randint(1, max(char_vocab_size, 2), (batch, steps, width), generator=generator)
    chars = chars.masked_fill(torch.arange(width)[None, None, :] >= char_lengths[..., None], 0)
    return chars.clamp(max=char_vocab_size - 1), char_lengths


def tagger_graphs(task: LabellingTask) -> list[Graph]:
    model = task.model
    words, lengths = example_ids(model.embedding.num_embeddings, EXAMPLE_LENGTHS)
    example: tuple[torch.Tensor, ...] = (words, lengths)
    inputs = ["words", "lengths"]
    dynamic = {"words": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}}
    if model.char_encoder is not None:
        example += example_chars(model.char_encoder.embedding.num_embeddings, lengths)
        inputs += ["chars", "char_lengths"]
        dynamic |= {
            "chars": {0: "batch", 1: "steps", 2: "chars_per_word"},
            "char_lengths": {0: "batch", 1: "steps"},
        }
    return [Graph("tagger", TaggerGraph(model), example, inputs, ("emissions", "tags"), dynamic)]
