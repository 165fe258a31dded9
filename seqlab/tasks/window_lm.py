"""Next-token prediction with a fixed-window neural LM (Bengio et al., 2003) on the LM pipeline."""

from __future__ import annotations

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from seqlab.nn import FixedWindowLM, PretrainedEmbeddings
from seqlab.tasks.base import default_optimizer
from seqlab.tasks.language_model import LanguageModelTask


class FixedWindowLMTask(LanguageModelTask):
    """A fixed-window language model trained and evaluated exactly like :class:`GenerationTask` (same
    data, streams, metrics and checkpoints); its carried state is the last ``context_size`` tokens, so
    no gradient crosses a window boundary and there is nothing for ``tbptt_steps`` (or
    ``tbptt_backprop_steps``) to truncate.

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        context_size: k, the tokens each prediction sees.
        embedding_size: token embedding width.
        hidden_size: width of each tanh layer.
        num_layers: tanh hidden layers.
        dropout: dropout on the embeddings and after every hidden layer.
        direct_connection: add Bengio's direct linear map from the embeddings to the logits.
        tie_weights: share input embeddings and output weights.
        pretrained_embeddings: start the embedding table from a word2vec/GloVe text file.
        optimizer: see :class:`SeqTask`.
        lr_scheduler: see :class:`SeqTask`.
        gradient_clip_norm: see :class:`SeqTask`.
        max_nonfinite_steps: see :class:`SeqTask`.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 16,
        embedding_size: int = 64,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.0,
        direct_connection: bool = False,
        tie_weights: bool = False,
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip_norm: float | None = 1.0,
        max_nonfinite_steps: int = 20,
    ) -> None:
        super().__init__(None, optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps)
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler", "pretrained_embeddings"])
        self.pretrained_embeddings = pretrained_embeddings
        self.model = FixedWindowLM(
            vocab_size,
            context_size,
            embedding_size,
            hidden_size,
            num_layers,
            dropout,
            direct_connection,
            tie_weights,
        )
