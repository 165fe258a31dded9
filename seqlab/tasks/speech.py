"""Speech recognition with CTC: a recurrent acoustic encoder over feature frames, trained with the CTC
loss (float32, infeasible utterances skipped; non-finite steps are skipped on every rank together by
SeqTask, as in every task) and evaluated by character and word error rate of greedy or
prefix-beam-search transcripts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure

from seqlab.data.formats.word_lists import read_word_list
from seqlab.data.tokenizers.speech_alphabet import Alphabet, scoring_text
from seqlab.engine.errors import SettingError
from seqlab.engine.media import log_figure, log_table
from seqlab.metrics.edit_distance import EditCounts
from seqlab.nn.acoustic import AcousticConfig, CTCModel
from seqlab.nn.ctc import ctc_beam_decode, ctc_greedy_decode, ctc_loss
from seqlab.nn.errors import NetSettingError, checked_count
from seqlab.nn.word_list import NO_SEPARATOR, WordListScorer
from seqlab.tasks.net_config import net_config
from seqlab.tasks.plots import posteriorgram_figure
from seqlab.tasks.supervised import SupervisedTask


def error_units(text: str, kind: str) -> tuple[Sequence[str], list[str]]:
    """What ``cer`` and ``wer`` count edits over: characters and space-separated words (as jiwer
    does), or for phoneme targets phoneme symbols and the words between ``|`` boundaries."""
    if kind == "phonemes":
        symbols = text.split()
        words = [w.strip() for w in " ".join(symbols).split("|") if w.strip()]
        return [s for s in symbols if s != "|"], words
    return text.strip(), text.split()


class SpeechRecognitionTask(SupervisedTask):
    """CTC speech recognition over a batch of ``features`` [B, T, F], ``feature_lengths``, ``targets``
    [B, S] (label ids, 0 = blank never used), ``target_lengths``, ``texts`` (the whole target text,
    which CER/WER score against) and ``ids``.

    Training loss: CTC per utterance divided by its target length, averaged over the feasible
    utterances of the batch (as ``F.ctc_loss``'s ``mean``). An utterance whose target needs more
    frames than the encoder outputs after subsampling is skipped, named in a warning and counted as
    ``train/skipped``. A step whose loss or gradient norm is not finite on any rank is skipped on
    every rank and counted as ``train/nonfinite_skipped`` (see :class:`SeqTask`).
    Validation and test log ``loss``, ``cer`` and ``wer`` (``val/cer`` picks the checkpoint; for
    phoneme targets they are phoneme and word error rates, see :func:`error_units`), a table
    of references and transcripts and a posteriorgram of the first utterance.

    Args:
        vocab_size: output labels including the blank (linked from the data).
        num_features: features per frame (linked from the data).
        net: the acoustic encoder (cell, sizes, subsampling, dropout, ...; see :class:`AcousticConfig`).
        eval_beam_size: prefix beam search width in validation/test (1: greedy).
        eval_prune: in beam search, ignore labels below this log-probability per frame.
        word_list: bias beam search towards known words (character targets): a file with one word
            per line, or ``wordfreq:en:50000`` for wordfreq's most frequent words (see
            :class:`seqlab.nn.word_list.WordListScorer`); ``None``: no bias.
        word_list_penalty: log-score added for leaving the word list.
        examples_logged: validation utterances shown in the transcripts table.
        training: optimizer, lr_scheduler, gradient_clip_norm, max_nonfinite_steps (see :class:`SeqTask`).
    """

    monitor, monitor_mode = "val/cer", "min"

    def __init__(
        self,
        vocab_size: int,
        num_features: int,
        net: AcousticConfig = AcousticConfig(),
        eval_beam_size: int = 1,
        eval_prune: float | None = math.log(1e-3),
        word_list: str | None = None,
        word_list_penalty: float = -6.0,
        examples_logged: int = 20,
        **training: Any,
    ) -> None:
        super().__init__(**training)
        net = net_config(AcousticConfig, net)
        self.save_settings(net)
        self.model = CTCModel(vocab_size, num_features, net)
        self.eval_beam_size = checked_count(eval_beam_size, "model.eval_beam_size")
        self.eval_prune, self.examples_logged = eval_prune, examples_logged
        if eval_prune is not None and eval_prune > 0:
            raise NetSettingError(
                f"model.eval_prune: expected a log-probability (0 or below), got {eval_prune!r}"
            )
        self._loss_sum, self._loss_weight = 0.0, 0  # over feasible utterances, this evaluation
        self._chars, self._words = EditCounts(), EditCounts()
        self._skipped_utterances = torch.zeros(())  # infeasible ones in this step, over all ranks
        self._rows: list[list[str]] = []
        self._posteriorgram: tuple[torch.Tensor, str, str, str] | None = None  # log-probs, output, id, ref
        self.word_list, self.word_list_penalty = word_list, word_list_penalty
        self._scorer: WordListScorer | None = None

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 log-probabilities [B, T', V] and their lengths [B]."""
        return self.model(features, lengths)

    def batch_tokens(self, batch: dict[str, Any]) -> int:
        return int(batch["feature_lengths"].sum())  # throughput in input frames per second

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, Any, torch.Tensor, torch.Tensor]:
        log_probs, lengths = self(batch["features"], batch["feature_lengths"])
        result = ctc_loss(log_probs, lengths, batch["targets"], batch["target_lengths"])
        per_label = result.losses / batch["target_lengths"].clamp(min=1).to(result.losses)
        feasible = int(result.feasible.sum())
        # A batch with nothing feasible still gives a loss tied to every parameter (DDP needs that).
        loss = per_label.sum() / feasible if feasible else log_probs.sum() * 0.0
        return loss, result, log_probs, lengths

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, result, _, _ = self._loss(batch)
        skipped = torch.tensor(float(result.skipped), device=self.device)
        self._skipped_utterances = self.trainer.strategy.reduce(skipped, reduce_op="sum")
        if result.skipped:  # each rank names its own; Python shows a repeated message once
            rank = f"rank {self.global_rank}: " if self.trainer.world_size > 1 else ""
            warnings.warn(f"{rank}{result.describe_skipped(batch.get('ids'))}", stacklevel=1)
        return loss  # a non-finite one: SeqTask skips the optimizer step on every rank

    def on_train_batch_end(self, outputs: Any, batch: dict[str, Any], batch_idx: int) -> None:
        extra = {"train/skipped": self._skipped_utterances}
        self.log_train_step(outputs["loss"].detach(), self.batch_tokens(batch), extra)

    def word_list_scorer(self, alphabet: Alphabet) -> WordListScorer | None:
        """The ``word_list`` bias in ``alphabet``'s ids (built once), or ``None`` without a word list."""
        if self.word_list is None:
            return None
        if self._scorer is None:
            if alphabet.kind != "characters":
                raise SettingError(
                    f"model.word_list {self.word_list!r}: expected character targets (data.targets: "
                    f"characters); a word list spells words in letters, not {alphabet.kind}"
                )
            # No space in training (FSDD: every transcript one word): the whole transcript is the word.
            separator = alphabet.word_separator if alphabet.word_separator is not None else NO_SEPARATOR
            words = read_word_list(self.word_list)
            self._scorer = WordListScorer(words, alphabet.encode, separator, self.word_list_penalty)
        return self._scorer

    def decode(
        self,
        log_probs: torch.Tensor,
        lengths: torch.Tensor,
        beam_size: int = 1,
        scorer: WordListScorer | None = None,
    ) -> list[list[int]]:
        """The best label ids per utterance: greedy for ``beam_size`` 1, else prefix beam search
        (with ``scorer``'s word-list bias, if given)."""
        if beam_size <= 1:
            return ctc_greedy_decode(log_probs, lengths)
        found = ctc_beam_decode(log_probs, lengths, beam_size, prune=self.eval_prune, scorer=scorer)
        return [b[0][0] for b in found]

    def eval_step(self, batch: dict[str, Any], prefix: str) -> None:
        loss, result, log_probs, lengths = self._loss(batch)
        feasible = int(result.feasible.sum())
        self._loss_sum += float(loss) * feasible
        self._loss_weight += feasible
        alphabet = self.from_data("alphabet")
        scorer = self.word_list_scorer(alphabet) if self.eval_beam_size > 1 else None
        found = self.decode(log_probs, lengths, self.eval_beam_size, scorer)
        hyps = [alphabet.detokenize(ids) for ids in found]
        for i, hyp in enumerate(hyps):
            # The whole reference text: the target ids lack symbols the training alphabet does not have.
            ref = scoring_text(batch["texts"][i], alphabet.kind)
            hyp_units, hyp_words = error_units(hyp, alphabet.kind)
            ref_units, ref_words = error_units(ref, alphabet.kind)
            self._chars.update(hyp_units, [ref_units])
            self._words.update(hyp_words, [ref_words])
            if len(self._rows) < self.examples_logged:
                self._rows.append([str(batch["ids"][i]), ref, hyp])
        if self._posteriorgram is None:
            self._posteriorgram = (
                log_probs[0, : int(lengths[0])].detach().cpu(),
                hyps[0],
                str(batch["ids"][0]),
                scoring_text(batch["texts"][0], alphabet.kind),
            )

    def posteriorgram(
        self, log_probs: torch.Tensor, output: str, utterance: str, ref: str, prefix: str
    ) -> Figure:
        """The CTC posteriors [T', V] of one utterance, titled with its transcript and reference."""
        alphabet = self.from_data("alphabet")
        names = ["<b>"] + [alphabet.detokenize([v]).strip() or "␣" for v in range(1, log_probs.size(1))]
        title = f"{prefix} utterance {utterance}, step {self.global_step}: output {output!r}"
        title += f"\nreference: {ref!r}"
        return posteriorgram_figure(log_probs.exp().numpy(), names, title)

    def eval_end(self, prefix: str) -> torch.Tensor:
        # Sums over every rank's utterances in one all-reduce, so every rank logs the corpus-level values.
        mine = [self._loss_sum, self._loss_weight, *self._chars.counts_tensor(), *self._words.counts_tensor()]
        totals = self.trainer.strategy.reduce(
            torch.tensor([float(v) for v in mine], dtype=torch.float64, device=self.device), reduce_op="sum"
        )
        self._loss_sum, self._loss_weight = 0.0, 0
        self._chars, self._words = EditCounts(), EditCounts()
        chars, words = EditCounts.from_tensor(totals[2:6].long()), EditCounts.from_tensor(totals[6:].long())
        loss = (totals[0] / totals[1]).float() if totals[1] > 0 else torch.tensor(math.nan)
        values = {
            f"{prefix}/loss": loss,
            f"{prefix}/cer": chars.error_rate(),
            f"{prefix}/wer": words.error_rate(),
        }
        self.log_dict(values, prog_bar=True)
        rows, self._rows = self._rows, []
        gram, self._posteriorgram = self._posteriorgram, None
        if not self.trainer.sanity_checking and self.trainer.is_global_zero:
            log_table(self.trainer, f"{prefix}/transcripts", ["id", "reference", "transcript"], rows)
            if gram is not None:
                log_figure(self.trainer, f"{prefix}/posteriorgram", self.posteriorgram(*gram, prefix))
        return loss
