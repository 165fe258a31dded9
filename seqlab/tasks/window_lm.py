"""Next-token prediction with a fixed-window neural LM (Bengio et al., 2003) on the LM pipeline."""

from __future__ import annotations

from typing import Any

from seqlab.nn import FixedWindowLM, PretrainedEmbeddings
from seqlab.nn.window_lm import FixedWindowLMConfig
from seqlab.tasks.language_model import LanguageModelTask
from seqlab.tasks.net_config import net_config


class FixedWindowLMTask(LanguageModelTask):
    """A fixed-window language model trained and evaluated exactly like :class:`GenerationTask` (same
    data, streams, metrics and checkpoints); its carried state is the last ``context_size`` tokens, so
    no gradient crosses a window boundary and there is nothing for ``tbptt_steps`` (or
    ``tbptt_backprop_steps``) to truncate.

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        net: the architecture (context size, sizes, dropout, ...; see :class:`FixedWindowLMConfig`).
        pretrained_embeddings: start the embedding table from a word2vec/GloVe text file.
        training: optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    def __init__(
        self,
        vocab_size: int,
        net: FixedWindowLMConfig = FixedWindowLMConfig(),
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        **training: Any,
    ) -> None:
        super().__init__(**training)
        net = net_config(FixedWindowLMConfig, net)
        self.save_settings(net)
        self.pretrained_embeddings = pretrained_embeddings
        self.model = FixedWindowLM(vocab_size, net)
