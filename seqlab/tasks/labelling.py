"""Aligned many-to-many labelling: one tag per token from a (bi)directional recurrent encoder, with an
optional linear-chain CRF; token accuracy, exact match and, for BIO/BIOES tags, span F1."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MeanMetric, SumMetric

from seqlab.engine.media import log_table
from seqlab.metrics.spans import SpanCounts, span_types, tag_scheme
from seqlab.nn import PretrainedEmbeddings
from seqlab.nn.crf import scheme_constraints
from seqlab.nn.errors import checked_share
from seqlab.nn.tagger import UNSEEN_TAG, RecurrentTagger, TaggerConfig
from seqlab.nn.token_dropout import replace_by_unknown
from seqlab.tasks.net_config import net_config
from seqlab.tasks.supervised import SupervisedTask

COUNTS = ("correct_tokens", "tokens", "exact", "sentences")
UNSEEN_GOLD = "<tag not in training>"  # the gold string of an UNSEEN_TAG: never equal to a prediction


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return num / den if den > 0 else torch.zeros_like(num)


class LabellingTask(SupervisedTask):
    """Sequence labelling (POS tags, BIO named entities, per-phoneme stress).

    Metrics at the end of each validation: ``accuracy`` (tokens), ``exact_match`` (sentences whose
    tags are all right: word accuracy for the stress task) and, when the tags follow BIO or BIOES,
    span ``precision``/``recall``/``span_f1`` as seqeval counts them (``span_f1`` then picks the best
    checkpoint, otherwise ``accuracy``). A table of validation sentences with gold and predicted tags
    is saved in the run directory and logged to W&B.

    Args:
        vocab_size: number of word ids (linked from the data by the CLI).
        labels: the tags in id order (linked from the data; saved with the model).
        char_vocab_size: number of character ids (linked from the data; 0: no character encoder).
        net: the architecture (sizes, cell, CRF, dropout, ...; see :class:`TaggerConfig`).
        constrain_crf: forbid transitions that BIO/BIOES make invalid (``I-PER`` after ``O``).
        word_dropout: in training, replace this share of words by the unknown word (so its embedding
            learns what an unseen word looks like).
        pretrained_embeddings: start the word embeddings from a word2vec/GloVe text file.
        examples_logged: validation sentences shown in the predictions table.
        gradient_clip_norm: see :class:`SeqTask` (tagging clips at 5 by default).
        training: optimizer, lr_scheduler, max_nonfinite_steps (see :class:`SeqTask`).
    """

    monitor_mode = "max"

    def __init__(
        self,
        vocab_size: int,
        labels: list[str],
        char_vocab_size: int = 0,
        net: TaggerConfig = TaggerConfig(),
        constrain_crf: bool = True,
        word_dropout: float = 0.0,
        pretrained_embeddings: PretrainedEmbeddings | None = None,
        examples_logged: int = 20,
        gradient_clip_norm: float | None = 5.0,
        **training: Any,
    ) -> None:
        super().__init__(gradient_clip_norm=gradient_clip_norm, **training)
        net = net_config(TaggerConfig, net)
        self.save_settings(net)
        self.labels = list(labels)
        self.scheme = tag_scheme(self.labels)
        self.monitor = "val/span_f1" if self.scheme else "val/accuracy"
        self.pretrained_embeddings = pretrained_embeddings
        self.word_dropout = checked_share(word_dropout, "model.word_dropout")
        self.examples_logged = examples_logged
        self.model = RecurrentTagger(vocab_size, len(self.labels), char_vocab_size, net)
        if self.model.crf is not None and constrain_crf and self.scheme:
            self.model.crf.constrain(*scheme_constraints(self.labels))
        self.eval_metrics = nn.ModuleDict(
            {
                prefix: nn.ModuleDict({"loss": MeanMetric(), **{name: SumMetric() for name in COUNTS}})
                for prefix in ("val", "test")
            }
        )
        self._spans = {"val": SpanCounts(), "test": SpanCounts()}
        self._shown: list[list[Any]] = []

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.apply_pretrained_embeddings(self.model.embedding, self.pretrained_embeddings)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Tag emissions [B, T, tags] for a batch from :func:`collate_sentences`."""
        return self.model(batch["words"], batch["lengths"], batch["chars"], batch["char_lengths"])

    def tag(self, batch: dict[str, Any]) -> list[list[str]]:
        """The predicted tags of every sentence in the batch."""
        paths = self.model.decode(self(batch), batch["lengths"])
        return [[self.labels[i] for i in path] for path in paths]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.word_dropout > 0:
            batch = {**batch, "words": replace_by_unknown(batch["words"], self.word_dropout)}
        return self.model.loss(self(batch), batch["tags"], batch["lengths"])

    def eval_step(self, batch: dict[str, Any], prefix: str) -> None:
        if batch["tags"] is None:
            raise ValueError(f"{prefix} data has no tags to evaluate against")
        emissions = self(batch)
        lengths, tags = batch["lengths"], batch["tags"]
        metrics = self.eval_metrics[prefix]
        # Sentences with a tag training never had have no defined loss (the CRF scores whole paths).
        known = ~(tags == UNSEEN_TAG).any(dim=1)
        if known.any():
            loss = self.model.loss(emissions[known], tags[known], lengths[known])
            metrics["loss"].update(loss, weight=int(known.sum()))
        counts = dict.fromkeys(COUNTS, 0)
        first = True  # one example per batch goes into the predictions table
        gold_ids = tags.tolist()
        for tokens, gold_row, path in zip(
            batch["tokens"], gold_ids, self.model.decode(emissions, lengths), strict=True
        ):
            gold = [UNSEEN_GOLD if i == UNSEEN_TAG else self.labels[i] for i in gold_row[: len(path)]]
            pred = [self.labels[i] for i in path]
            right = sum(g == p for g, p in zip(gold, pred, strict=True))
            counts["correct_tokens"] += right
            counts["tokens"] += len(gold)
            counts["exact"] += right == len(gold)
            counts["sentences"] += 1
            if self.scheme:  # an unseen gold tag is outside every span here (its type is unknown)
                self._spans[prefix].update(["O" if g == UNSEEN_GOLD else g for g in gold], pred)
            if first and len(self._shown) < self.examples_logged:  # batches go from short to long
                self._shown.append([" ".join(tokens), " ".join(gold), " ".join(pred), right == len(gold)])
            first = False
        for name, value in counts.items():
            metrics[name].update(torch.tensor(float(value), device=self.device))

    def eval_end(self, prefix: str) -> torch.Tensor:
        """Log the epoch's metrics (counts summed over ranks) and, on rank 0, the predictions table."""
        metrics = self.eval_metrics[prefix]
        c = {name: metrics[name].compute() for name in COUNTS}
        values = {
            f"{prefix}/loss": metrics["loss"].compute(),
            f"{prefix}/accuracy": _ratio(c["correct_tokens"], c["tokens"]),
            f"{prefix}/exact_match": _ratio(c["exact"], c["sentences"]),
        }
        if self.scheme:
            values.update(self._span_scores(prefix))
        self.log_dict(values, prog_bar=True)
        for metric in metrics.values():
            metric.reset()
        shown, self._shown = self._shown, []
        if not self.trainer.sanity_checking and self.trainer.is_global_zero:
            columns = ["tokens", "gold", "predicted", "all right"]
            log_table(self.trainer, f"{prefix}/predictions", columns, shown)
        return values[f"{prefix}/loss"]

    def _span_scores(self, prefix: str) -> dict[str, float]:
        """Micro span precision/recall/F1 and F1 per span type, from counts summed over all ranks."""
        types = span_types(self.labels)
        local, self._spans[prefix] = self._spans[prefix], SpanCounts()
        summed = self.trainer.strategy.reduce(local.counts_tensor(types, self.device), reduce_op="sum")
        scores = SpanCounts.from_tensor(summed.cpu(), types).scores()
        out = {f"{prefix}/precision": scores["precision"], f"{prefix}/recall": scores["recall"]}
        out[f"{prefix}/span_f1"] = scores["f1"]
        out.update({f"{prefix}/span_f1/{t}": s["f1"] for t, s in scores["per_type"].items()})
        return out
