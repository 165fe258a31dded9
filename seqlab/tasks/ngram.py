"""The n-gram baseline as a task: it counts the very windows the recurrent models learn from, and is
evaluated by LanguageModelTask's own code, so val/loss, val/ppl and val/bpc are in the same units."""

from __future__ import annotations

import time

import torch
from lightning.pytorch.utilities import rank_zero_info

from seqlab.nn.ngram import NgramConfig, NgramLM
from seqlab.tasks.language_model import LanguageModelTask
from seqlab.tasks.net_config import net_config


class NgramTask(LanguageModelTask):
    """An order-n count model (:class:`~seqlab.nn.ngram.NgramLM`) trained by one counting pass.

    Training counts each window with the carried state as its history, so every n-gram of the
    training streams is counted once, as in one pass over them (and a mid-epoch resume continues
    from the counts in the checkpoint). Each window is one step of Lightning's no-op optimizer, so
    ``max_steps``, ``val_check_interval``, logging and checkpoints count windows as they count
    optimizer steps for the neural models. A validation during the epoch evaluates the counts so far
    (tables are rebuilt when counts changed): a learning curve in tokens seen.

    Args:
        vocab_size: number of token ids (linked from the data by the CLI).
        net: the order and smoothing (see :class:`~seqlab.nn.ngram.NgramConfig`).
        samples: texts sampled after each validation (see :class:`LanguageModelTask`).
        sample_length: tokens sampled per text.
    """

    def __init__(
        self, vocab_size: int, net: NgramConfig = NgramConfig(), samples: int = 3, sample_length: int = 200
    ) -> None:
        super().__init__(samples=samples, sample_length=sample_length, gradient_clip_norm=None)
        net = net_config(NgramConfig, net)
        self.save_settings(net)
        self.model = NgramLM(vocab_size, net)
        self._count_seconds = 0.0

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        trainer = self.trainer
        if trainer.world_size > 1:
            raise RuntimeError(
                "NgramTask counts on one process: counts are not merged across processes; "
                f"train it with devices=1 and num_nodes=1 (got {trainer.world_size} processes)"
            )
        if trainer.max_epochs != 1:
            raise ValueError(
                "NgramTask counts the training split once (a second epoch would count it twice): "
                f"set trainer.max_epochs: 1 (got {trainer.max_epochs})"
            )

    def configure_optimizers(self) -> None:
        """Nothing to optimize: Lightning substitutes a no-op optimizer, stepped once per window."""
        return None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        start = time.perf_counter()
        self._train_state = self.model.update(inputs, targets, self._train_state)
        self._count_seconds += time.perf_counter() - start
        self.optimizers().step()  # advances global_step: one step per window
        self.log_dict(
            {"train/tokens": float(self.model.num_tokens), "train/count_seconds": self._count_seconds}
        )

    def on_train_epoch_end(self) -> None:
        model = self.model
        model.finalize()
        self.log_dict(
            {
                "train/ngrams": float(model.num_ngrams),
                "train/count_seconds": self._count_seconds,
                "train/finalize_seconds": model.finalize_seconds,
            }
        )
        rank_zero_info(
            f"n-gram: {model.num_tokens} tokens counted into {model.num_ngrams} distinct {model.order}-grams "
            f"in {self._count_seconds:.1f} s; probability tables built in {model.finalize_seconds:.1f} s"
        )
