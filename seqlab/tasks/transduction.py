"""Unaligned many-to-many transduction: an encoder-decoder with attention, trained with teacher forcing
and evaluated on decoded output (greedy or beam search)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torchmetrics import MeanMetric

from seqlab.data.modules.batching import pad
from seqlab.data.modules.transduction import BOS, PAD
from seqlab.engine.media import log_figure, log_table
from seqlab.nn.errors import checked_count, checked_positive, checked_share
from seqlab.nn.search import beam_search, greedy_search
from seqlab.nn.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.tasks.net_config import net_config
from seqlab.tasks.plots import attention_figure
from seqlab.tasks.supervised import SupervisedTask


class TransductionTask(SupervisedTask):
    """Sequence-to-sequence transduction (grapheme-to-phoneme, translation).

    Validation decodes every example (``eval_beam_size`` 1: greedy) and scores it against all its
    references: ``metrics: g2p`` logs phoneme error rate ``val/per`` and word error rate ``val/wer``
    (a word is right if it equals any reference; ``val/wer`` picks the best checkpoint);
    ``metrics: translation`` logs sacrebleu's ``val/bleu`` (picks the checkpoint) and ``val/chrf``.
    Attention heatmaps of a few validation examples (over the model's own output, the reference in the
    title) and a table of sources, references and outputs go to the run directory and W&B.

    Args:
        source_vocab_size: source token ids (linked from the data).
        target_vocab_size: target token ids including padding/BOS/EOS (linked from the data).
        net: the architecture (cell, sizes, layers, attention, dropout, ...; see :class:`Seq2SeqConfig`).
        label_smoothing: cross-entropy label smoothing.
        metrics: ``g2p`` (PER/WER against the closest reference) or ``translation`` (BLEU/chrF).
        eval_beam_size: beam size of validation/test decoding (1: greedy).
        length_penalty: GNMT length penalty alpha of validation/test beam search.
        max_decode_length: longest output in validation/test decoding.
        max_decode_ratio: also stop at this many target tokens per source token.
        heatmaps: validation examples drawn as attention heatmaps.
        examples_logged: validation examples shown in the outputs table.
        training: optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        net: Seq2SeqConfig = Seq2SeqConfig(),
        label_smoothing: float = 0.0,
        metrics: Literal["g2p", "translation"] = "g2p",
        eval_beam_size: int = 1,
        length_penalty: float = 0.0,
        max_decode_length: int = 100,
        max_decode_ratio: float | None = None,
        heatmaps: int = 3,
        examples_logged: int = 20,
        **training: Any,
    ) -> None:
        super().__init__(**training)
        net = net_config(Seq2SeqConfig, net)
        self.save_settings(net)
        self.model = Seq2Seq(source_vocab_size, target_vocab_size, net)
        self.label_smoothing = checked_share(label_smoothing, "model.label_smoothing")
        self.metrics = metrics
        self.eval_beam_size = checked_count(eval_beam_size, "model.eval_beam_size")
        self.length_penalty = length_penalty
        self.max_decode_length = checked_count(max_decode_length, "model.max_decode_length")
        self.max_decode_ratio = checked_positive(max_decode_ratio, "model.max_decode_ratio")
        self.heatmaps, self.examples_logged = heatmaps, examples_logged
        self.monitor, self.monitor_mode = ("val/wer", "min") if metrics == "g2p" else ("val/bleu", "max")
        self.eval_loss = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        self._outputs: list[tuple[str, list[str], str]] = []  # (source, references, hypothesis)
        self._first_batch: tuple[dict[str, Any], list[list[int]]] | None = None  # and its outputs

    def forward(self, batch: dict[str, Any], return_attention: bool = False) -> Any:
        return self.model(batch["source"], batch["source_lengths"], batch["target_in"], return_attention)

    def loss(self, logits: torch.Tensor, target_out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.float().flatten(0, 1),
            target_out.flatten(),
            ignore_index=PAD,
            label_smoothing=self.label_smoothing,
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self.loss(self(batch), batch["target_out"])

    def batch_tokens(self, batch: dict[str, Any]) -> int:
        return int((batch["target_out"] != PAD).sum())

    def decode_ids(self, source: torch.Tensor, lengths: torch.Tensor, beam_size: int) -> list[list[int]]:
        """The best output token ids (without BOS/EOS) of every source, by greedy or beam search."""
        limits = {"max_len": self.max_decode_length, "max_len_ratio": self.max_decode_ratio}
        if beam_size <= 1:
            return [h.tokens for h in greedy_search(self.model, source, lengths, **limits)]
        beams = beam_search(
            self.model, source, lengths, beam_size=beam_size, length_penalty=self.length_penalty, **limits
        )
        return [hyps[0].tokens for hyps in beams]

    def eval_step(self, batch: dict[str, Any], prefix: str) -> None:
        self.eval_loss[prefix].update(
            self.loss(self(batch), batch["target_out"]), weight=len(batch["sources"])
        )
        detokenize = self.from_data("detokenize")
        outputs = self.decode_ids(batch["source"], batch["source_lengths"], self.eval_beam_size)
        for text, refs, ids in zip(batch["sources"], batch["references"], outputs, strict=True):
            self._outputs.append((text, refs, detokenize(ids)))
        # Heatmaps come from the first batch of sources at least 6 tokens long (batches run from short
        # to long), where an alignment has something to show.
        if self._first_batch is None or int(self._first_batch[0]["source_lengths"].max()) < 6:
            self._first_batch = (batch, outputs)

    def eval_end(self, prefix: str) -> torch.Tensor:
        from seqlab.metrics.edit_distance import EditCounts
        from seqlab.metrics.translation import bleu, chrf

        loss = self.eval_loss[prefix].compute()
        self.eval_loss[prefix].reset()
        outputs = self._all_outputs()
        values: dict[str, Any] = {f"{prefix}/loss": loss}
        if self.metrics == "g2p":
            counts = EditCounts()
            for _, refs, hyp in outputs:
                counts.update(hyp.split(), [r.split() for r in refs])
            values[f"{prefix}/per"] = counts.error_rate()
            values[f"{prefix}/wer"] = counts.item_error_rate()
        else:
            hyps, refs = [h for _, _, h in outputs], [r for _, r, _ in outputs]
            values[f"{prefix}/bleu"] = bleu(hyps, refs)[0]
            values[f"{prefix}/chrf"] = chrf(hyps, refs)[0]
        self.log_dict(values, prog_bar=True)  # every rank has all outputs, so the same values
        first, self._first_batch = self._first_batch, None
        if not self.trainer.sanity_checking and self.trainer.is_global_zero:
            rows = [[src, " | ".join(refs), hyp] for src, refs, hyp in outputs[: self.examples_logged]]
            log_table(self.trainer, f"{prefix}/outputs", ["source", "references", "output"], rows)
            for i, fig in enumerate(self.heatmap_figures(*first, prefix) if first is not None else []):
                log_figure(self.trainer, f"{prefix}/attention_{i}", fig)
        return loss

    def _all_outputs(self) -> list[tuple[str, list[str], str]]:
        """Every rank's decoded outputs (corpus metrics need all of them), in rank order."""
        mine, self._outputs = self._outputs, []
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return mine
        gathered: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, mine)
        return [item for part in gathered for item in part]

    def heatmap_figures(self, batch: dict[str, Any], outputs: list[list[int]], prefix: str) -> list[Figure]:
        """Attention over the model's own output for a few examples of ``batch`` (``outputs``: their
        decoded ids), found by feeding that output back in; the last row is the step after it, labelled
        with what the model predicts there (``</s>`` when it stops). The reference is in the title."""
        if self.model.attention is None:
            return []
        count = min(self.heatmaps, len(outputs))
        target_in = pad([[BOS, *ids] for ids in outputs[:count]], value=PAD).to(self.device)
        source, lengths = batch["source"][:count], batch["source_lengths"][:count]
        with torch.no_grad():
            logits, weights = self.model(source, lengths, target_in, return_attention=True)
        detokenize, detokenize_source = self.from_data("detokenize"), self.from_data("detokenize_source")
        figures = []
        for i, ids in enumerate(outputs[:count]):
            src_len, rows = int(lengths[i]), [*ids, int(logits[i, len(ids)].argmax())]
            tokens = [detokenize_source([int(t)]) for t in source[i, :src_len]]
            labels = [detokenize([t]) or "</s>" for t in rows]
            grid = weights[i, : len(rows), :src_len].float().cpu().numpy()
            title = (
                f"{prefix} attention, step {self.global_step}: {batch['sources'][i]!r} -> "
                f"{detokenize(ids)!r}\nreference: {' | '.join(batch['references'][i])!r}"
            )
            figures.append(attention_figure(grid, tokens, labels, title))
        return figures
