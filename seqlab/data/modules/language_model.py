"""The language-modelling DataModule: corpus -> fitted tokenizer -> cached ids -> parallel streams."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import lightning as L
import numpy as np
import pyarrow as pa
import torch
from jsonargparse import lazy_instance
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from seqlab.data.cache import default_cache_dir, read_or_rebuild
from seqlab.data.errors import DataError
from seqlab.data.modules import checked_settings, summary
from seqlab.data.modules.batching import batches_trained
from seqlab.data.modules.streams import ResumableWindows, StreamWindows
from seqlab.data.sources.text import PythonStdlib, TextCorpus
from seqlab.data.tokenizers.base import Tokenizer
from seqlab.data.tokenizers.characters import CharTokenizer


def _content_hash(ds: datasets.Dataset) -> str:
    table = ds.with_format("arrow")[:]  # the rows the dataset shows (applies select/shuffle maps)
    digest = hashlib.sha256()
    for chunk in table.column("text").chunks:
        chunk = pa.concat_arrays([chunk])  # fresh buffers: a slice's buffers also hold other rows
        for buffer in chunk.buffers():
            if buffer is not None:
                digest.update(memoryview(buffer))
    return digest.hexdigest()[:16]


def streams_that_fit(tokens: int, batch_size: int, processes: int, split: str) -> int:
    """``batch_size``, or fewer streams (with a note) where the split has too few tokens for each of
    ``batch_size`` streams per process to predict one: a one-line file still trains. Raises
    DataError only where not even one stream per process fits."""
    most = (tokens - 1) // processes
    if most >= batch_size:
        return batch_size
    if most < 1:
        raise DataError(
            f"the {split} split has {tokens} token{'s' if tokens != 1 else ''}, too few to predict any "
            f"on {processes} process{'es' if processes != 1 else ''} "
            f"(at least {processes + 1} are needed); use more text"
        )
    rank_zero_info(
        f"the {split} split has {tokens} tokens, too few for {batch_size} streams of at least one "
        f"token{' per process' if processes > 1 else ''}: using {most}"
    )
    return most


class LanguageModelData(L.LightningDataModule):
    """Text for next-token prediction, batched as contiguous streams for truncated BPTT.

    The tokenizer is fitted here, in ``__init__``, so its vocabulary size is known when the model
    is built (the CLI links ``data.vocab_size`` into the model).

    Args:
        corpus: where the text comes from (default: the Python standard library's source).
        tokenizer: how text becomes ids (default: characters).
        batch_size: parallel streams per process.
        seq_len: window length in tokens (truncated BPTT length).
        eval_batch_size: parallel streams for validation/test, over all processes together (default:
            ``batch_size``): the text is cut into the same streams however many processes evaluate
            it, so the loss is the same.
        cache_dir: cache for tokenizers and encoded splits (default: ``$SEQLAB_CACHE``).
    """

    def __init__(
        self,
        corpus: TextCorpus = lazy_instance(PythonStdlib),
        tokenizer: Tokenizer = lazy_instance(CharTokenizer),
        batch_size: int = 32,
        seq_len: int = 128,
        eval_batch_size: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__()
        checked_settings.batching(batch_size, eval_batch_size, 0)
        checked_settings.whole_number("data.seq_len", seq_len)
        checked_settings.without_sampling("data.tokenizer", tokenizer)
        self.corpus = corpus
        self.batch_size, self.seq_len = batch_size, seq_len
        self.eval_batch_size = eval_batch_size or batch_size
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self.raw = corpus.load()
        # A copy: the default is one lazy_instance shared by every LanguageModelData built in this
        # process, and fit() keeps a vocabulary it already has.
        self.tokenizer = checked_settings.fitted(
            "data.tokenizer",
            checked_settings.training_origin(corpus),
            lambda: copy.deepcopy(tokenizer).fit(self.raw["train"]["text"], self.cache_dir),
        )
        self.windows: dict[str, StreamWindows] = {}
        self.chars_per_token: dict[str, float] = {}

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def detokenize(self, ids: Sequence[int]) -> str:
        """Ids back to text (the task's validation samples)."""
        return self.tokenizer.detokenize(ids)

    def encoded(self, split: str) -> torch.Tensor:
        """The split as one 1-D tensor of ids, encoded through ``datasets.map`` and cached on disk."""
        ds = self.raw[split]
        key = f"{split}-{_content_hash(ds)}-{self.tokenizer.fingerprint()}"
        cache_file = self.cache_dir / "encoded" / f"{key}.arrow"
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tokenizer = self.tokenizer

        def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            ids = [tokenizer.encode(text) for text in batch["text"]]
            return {"ids": ids, "chars": [len(text) for text in batch["text"]]}

        def encoded_split() -> datasets.Dataset:
            return ds.map(
                encode,
                batched=True,
                batch_size=64,
                remove_columns=ds.column_names,
                cache_file_name=str(cache_file),
                new_fingerprint=key,
                desc=f"tokenizing {split}",
            )

        mapped = read_or_rebuild(cache_file, encoded_split, (OSError, pa.ArrowInvalid))
        flat = mapped.data.column("ids").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        ids = torch.from_numpy(np.asarray(flat, dtype=np.int64))
        chars = int(sum(mapped["chars"]))
        self.chars_per_token[split] = chars / max(len(ids), 1)
        return ids

    def prepare_data(self) -> None:
        for split in self.raw:
            self.encoded(split)

    def setup(self, stage: str | None = None) -> None:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        wanted = {"fit": ["train", "validation"], "validate": ["validation"], "test": ["test"]}
        tokens: dict[str, int] = {}
        unknown: dict[str, int] = {}
        dropped: list[str] = []
        for split in wanted.get(stage or "fit", list(self.raw)):
            if split not in self.raw:  # the corpus has no such split (e.g. TextFiles without `test`)
                raise DataError(
                    f"the corpus ({type(self.corpus).__name__}) has no {split} split, which "
                    f"`seqlab {getattr(stage, 'value', stage) or 'fit'}` needs; configure one "
                    f"(TextFiles: `data.corpus.{split}`)"
                )
            ids = self.encoded(split)
            batch = self.batch_size if split == "train" else self.eval_batch_size
            processes = world if split == "train" else 1
            batch = streams_that_fit(len(ids), batch, processes, split)
            self.windows[split] = StreamWindows(
                ids,
                batch,
                self.seq_len,
                rank=rank,
                world_size=world,
                name=split,
                evaluation=split != "train",
            )
            tokens[split] = len(ids)
            unknown[split] = int((ids == self.tokenizer.unk_id).sum())
            unused = len(ids) - 1 - batch * processes * self.windows[split].stream_length
            dropped += [f"{unused} {split} tokens past the last full stream"] if unused else []
        self._print_summary(tokens, unknown, dropped)

    def _print_summary(self, tokens: dict[str, int], unknown: dict[str, int], dropped: list[str]) -> None:
        parts = [summary.vocabulary(self.tokenizer)]
        chars = {s: f"{self.chars_per_token[s]:.2f}" for s in tokens if s in self.chars_per_token}
        shown = ", ".join(f"{split} {c}" for split, c in chars.items())
        parts.append(f"characters per token {shown}" if chars else "")
        # Text the vocabulary lacks (characters training never had, rarer than min_freq) reads as <unk>.
        unseen = ", ".join(
            f"{split} {n:,} ({n / max(tokens[split], 1):.2%})" for split, n in unknown.items() if n
        )
        parts.append(f"unknown tokens {unseen}" if unseen else "")
        train = self.windows.get("train") if "train" in tokens else None
        if train is not None:
            streams = f"{len(train.inputs)} streams of {train.stream_length:,} tokens"
            parts.append(f"training: {streams} per process, {len(train)} windows of {self.seq_len}")
        summary.print_summary(summary.data_summary("language-model", tokens, "tokens", parts, dropped))

    def _loader(self, split: str) -> DataLoader:
        # Items are whole batches, in order: the streams' continuity is the point.
        return DataLoader(
            self.windows[split],
            batch_size=None,
            shuffle=False,
            pin_memory=torch.cuda.is_available(),
            generator=torch.Generator(),  # not the global one: see engine.callbacks.RandomState
        )

    def train_dataloader(self) -> ResumableWindows:
        def windows_done() -> int:
            return batches_trained(self.trainer)

        return ResumableWindows(self.windows["train"], windows_done, pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint, so a checkpoint alone can generate and evaluate."""
        return {"tokenizer": self.tokenizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.tokenizer.state_dict() != state_dict.get("tokenizer"):
            raise ValueError(
                "the checkpoint was trained with a different tokenizer/vocabulary than this data "
                "configuration builds; use the same data settings as the original run"
            )
