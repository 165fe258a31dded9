"""Many-to-one classification: a (bi)directional recurrent encoder, pooled, then a softmax over labels."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from seqlab.engine.errors import SettingError
from seqlab.engine.media import log_figure, log_table
from seqlab.nn import PretrainedEmbeddings
from seqlab.nn.classifier import ClassifierConfig, RecurrentClassifier
from seqlab.nn.errors import checked_share
from seqlab.nn.token_dropout import replace_by_unknown
from seqlab.tasks.net_config import net_config
from seqlab.tasks.plots import confusion_matrix_figure
from seqlab.tasks.supervised import SupervisedTask


def _eval_metrics(n: int, prefix: str) -> nn.ModuleDict:
    scores = {
        "accuracy": MulticlassAccuracy(n, average="micro"),
        "macro_f1": MulticlassF1Score(n, average="macro"),
    }
    return nn.ModuleDict(
        {
            "scores": MetricCollection(scores, prefix=f"{prefix}/"),
            "confusion": MulticlassConfusionMatrix(n),
            "loss": MeanMetric(),
        }
    )


class ClassificationTask(SupervisedTask):
    """Text classification with accuracy, macro-F1 and a confusion matrix (a PNG in the run directory,
    a W&B image and table) at the end of every validation.

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        labels: the label names in id order (linked from the data; saved with the model).
        net: the architecture (cell, sizes, pooling, dropout, ...; see :class:`ClassifierConfig`).
        class_weights: ``none``; ``balanced`` (weights n / (classes * count), from the training split);
            or one weight per label in label order.
        label_smoothing: cross-entropy label smoothing.
        word_dropout: in training, replace this share of tokens by the unknown token (so its embedding
            learns what an unseen word looks like, and no single word decides the label).
        pretrained_embeddings: start the embedding table from a word2vec/GloVe text file.
        examples_logged: validation examples shown in the predictions table.
        training: optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    monitor = "val/macro_f1"
    monitor_mode = "max"

    def __init__(
        self,
        vocab_size: int,
        labels: list[str],
        net: ClassifierConfig = ClassifierConfig(),
        class_weights: Literal["none", "balanced"] | list[float] = "none",
        label_smoothing: float = 0.0,
        word_dropout: float = 0.0,
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        examples_logged: int = 20,
        **training: Any,
    ) -> None:
        super().__init__(**training)
        net = net_config(ClassifierConfig, net)
        self.save_settings(net)
        self.labels = list(labels)
        self.pretrained_embeddings = pretrained_embeddings
        self.class_weights = class_weights
        self.label_smoothing = checked_share(label_smoothing, "model.label_smoothing")
        self.word_dropout = checked_share(word_dropout, "model.word_dropout")
        self.examples_logged = examples_logged
        n = len(self.labels)
        self.model = RecurrentClassifier(vocab_size, n, net)
        weights = torch.ones(n)
        if isinstance(class_weights, list):
            if len(class_weights) != n or min(class_weights) < 0:
                raise SettingError(
                    f"model.class_weights: expected {n} non-negative weights (one per label {self.labels}), "
                    f"got {class_weights}"
                )
            weights = torch.tensor(class_weights, dtype=torch.float)
        self.register_buffer("class_weight", weights)
        self.eval_metrics = nn.ModuleDict({prefix: _eval_metrics(n, prefix) for prefix in ("val", "test")})
        self._shown: list[list[Any]] = []

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        self.apply_pretrained_embeddings(self.model.embedding, self.pretrained_embeddings)
        if self.class_weights == "balanced":
            counts = torch.tensor(self.from_data("label_counts")(), dtype=torch.float)
            self.class_weight.copy_(counts.sum() / (len(counts) * counts.clamp(min=1)))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(ids, lengths)

    def probabilities(self, batch: dict[str, Any]) -> torch.Tensor:
        """Label probabilities [B, labels] for a batch from :func:`collate_texts`."""
        return self(batch["ids"], batch["lengths"]).float().softmax(-1)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.float(), labels, weight=self.class_weight, label_smoothing=self.label_smoothing
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        ids = replace_by_unknown(batch["ids"], self.word_dropout)
        return self._loss(self(ids, batch["lengths"]), batch["labels"])

    def eval_step(self, batch: dict[str, Any], prefix: str) -> None:
        logits = self(batch["ids"], batch["lengths"])
        labels = batch["labels"]
        if labels is None:
            raise ValueError(f"{prefix} data has no labels to evaluate against")
        metrics = self.eval_metrics[prefix]
        metrics["loss"].update(self._loss(logits, labels), weight=len(labels))
        predicted = logits.argmax(-1)
        metrics["scores"].update(predicted, labels)
        metrics["confusion"].update(predicted, labels)
        if len(self._shown) < self.examples_logged:  # one per batch: batches go from short to long texts
            prob = float(logits[0].float().softmax(-1).max())
            gold, pred = self.labels[int(labels[0])], self.labels[int(predicted[0])]
            self._shown.append([batch["texts"][0], gold, pred, round(prob, 4)])

    def eval_end(self, prefix: str) -> torch.Tensor:
        """Log the epoch's metrics (synchronised over ranks by torchmetrics) and, on rank 0, the
        confusion matrix and a predictions table. Returns the loss."""
        metrics = self.eval_metrics[prefix]
        loss = metrics["loss"].compute()
        self.log_dict({f"{prefix}/loss": loss, **metrics["scores"].compute()}, prog_bar=True)
        matrix = metrics["confusion"].compute().cpu().numpy()
        for metric in metrics.values():
            metric.reset()
        shown, self._shown = self._shown, []
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return loss
        title = f"{prefix} confusion matrix, step {self.global_step}"
        log_figure(
            self.trainer, f"{prefix}/confusion_matrix", confusion_matrix_figure(matrix, self.labels, title)
        )
        rows = [[gold, *map(int, row)] for gold, row in zip(self.labels, matrix, strict=True)]
        log_table(self.trainer, f"{prefix}/confusion_table", ["true \\ predicted", *self.labels], rows)
        log_table(self.trainer, f"{prefix}/predictions", ["text", "label", "predicted", "probability"], shown)
        return loss
