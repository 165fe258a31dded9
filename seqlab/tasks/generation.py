"""One-to-many generation: a recurrent language model (the Char-RNN recipe) trained with TBPTT."""

from __future__ import annotations

from typing import Any

from seqlab.nn import PretrainedEmbeddings, RecurrentLM
from seqlab.nn.language_model import RecurrentLMConfig
from seqlab.tasks.language_model import LanguageModelTask
from seqlab.tasks.net_config import net_config


class GenerationTask(LanguageModelTask):
    """Character- or subword-level recurrent language model; training and evaluation as in
    :class:`LanguageModelTask` (truncated BPTT over parallel streams, state carried across windows).

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        net: the architecture (cell, sizes, dropout, ...; see :class:`RecurrentLMConfig`).
        pretrained_embeddings: start the embedding table from a word2vec/GloVe text file.
        tbptt_steps: see :class:`LanguageModelTask`.
        tbptt_backprop_steps: see :class:`LanguageModelTask`.
        training: samples, sample_length (validation samples, see :class:`LanguageModelTask`);
            optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    def __init__(
        self,
        vocab_size: int,
        net: RecurrentLMConfig = RecurrentLMConfig(),
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        tbptt_steps: int | None = None,
        tbptt_backprop_steps: int | None = None,
        **training: Any,
    ) -> None:
        super().__init__(tbptt_steps, tbptt_backprop_steps, **training)
        net = net_config(RecurrentLMConfig, net)
        self.save_settings(net)
        self.pretrained_embeddings = pretrained_embeddings
        self.model = RecurrentLM(vocab_size, net)
