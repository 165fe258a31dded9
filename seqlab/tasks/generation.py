"""One-to-many generation: a recurrent language model (the Char-RNN recipe) trained with TBPTT."""

from __future__ import annotations

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable

from seqlab.nn import PretrainedEmbeddings, RecurrentLM
from seqlab.nn.recurrent import Cell
from seqlab.tasks.base import default_optimizer
from seqlab.tasks.language_model import LanguageModelTask


class GenerationTask(LanguageModelTask):
    """Character- or subword-level recurrent language model; training and evaluation as in
    :class:`LanguageModelTask` (truncated BPTT over parallel streams, state carried across windows).

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        cell: ``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu`` or the scan cells ``mingru``, ``minlstm``.
        embedding_size: token embedding width.
        hidden_size: recurrent state width.
        num_layers: stacked recurrent layers.
        dropout: dropout on embeddings, between layers and before the output layer.
        tie_weights: share input embeddings and output weights.
        orthogonal_init: orthogonal recurrent matrices at initialisation.
        forget_bias: LSTM forget-gate bias at initialisation.
        layer_norm: normalise each recurrent layer's input (``None``: on for the scan cells only).
        residual: residual connections around each recurrent layer (``None``: on for the scan cells only).
        pretrained_embeddings: start the embedding table from a word2vec/GloVe text file.
        tbptt_steps: backpropagate through at most this many steps (``None``: the whole window).
        tbptt_backprop_steps: backpropagate each update this far back, past its chunk (``None``: tbptt_steps).
        optimizer: see :class:`SeqTask`.
        lr_scheduler: see :class:`SeqTask`.
        gradient_clip_norm: see :class:`SeqTask`.
        max_nonfinite_steps: see :class:`SeqTask`.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: Cell = "lstm",
        embedding_size: int = 64,
        hidden_size: int = 512,
        num_layers: int = 2,
        dropout: float = 0.0,
        tie_weights: bool = False,
        orthogonal_init: bool = True,
        forget_bias: float | None = 1.0,
        layer_norm: bool | None = None,
        residual: bool | None = None,
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        tbptt_steps: int | None = None,
        tbptt_backprop_steps: int | None = None,
        optimizer: OptimizerCallable = default_optimizer,
        lr_scheduler: LRSchedulerCallable | None = None,
        gradient_clip_norm: float | None = 1.0,
        max_nonfinite_steps: int = 20,
    ) -> None:
        super().__init__(
            tbptt_steps,
            optimizer,
            lr_scheduler,
            gradient_clip_norm,
            max_nonfinite_steps,
            tbptt_backprop_steps=tbptt_backprop_steps,
        )
        # The file is read once, at fit time; a checkpoint holds the weights (and plain types only).
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler", "pretrained_embeddings"])
        self.pretrained_embeddings = pretrained_embeddings
        self.model = RecurrentLM(
            vocab_size,
            cell,
            embedding_size,
            hidden_size,
            num_layers,
            dropout,
            tie_weights,
            orthogonal_init,
            forget_bias,
            layer_norm,
            residual,
        )
