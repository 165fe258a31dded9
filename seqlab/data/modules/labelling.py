"""Labelling data (aligned many-to-many): sources of labelled sentences and the DataModule that encodes them.

Sources are chosen in YAML by ``class_path``: CoNLL-U (Universal Dependencies) or CoNLL column files,
or the built-in lexical stress task on the CMU Pronouncing Dictionary. Each token becomes a word id
and, optionally, its character ids (so a character encoder can represent unknown words).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from jsonargparse import lazy_instance
from lightning.pytorch.utilities import rank_zero_info

from seqlab.data.errors import DataError
from seqlab.data.examples import LabelledSentence
from seqlab.data.modules import checked_settings, summary
from seqlab.data.modules.batching import pad
from seqlab.data.modules.labels import LabelSet
from seqlab.data.modules.supervised import EncodedSplit, SupervisedData
from seqlab.data.sources.labelling import CmudictStress, LabellingSource
from seqlab.data.tokenizers.characters import CharTokenizer
from seqlab.data.tokenizers.words import WordTokenizer
from seqlab.metrics.spans import tag_scheme, to_iob2
from seqlab.nn.tagger import IGNORE_INDEX, UNSEEN_TAG


def _token_where(sentence: LabelledSentence, index: int) -> str:
    """``path:LINE`` of token ``index`` (the sentence's ``where`` when its lines are not known)."""
    path, _, line = sentence.where.rpartition(":")
    if sentence.token_rows is None or not path or not line.isdigit():
        return sentence.where
    return f"{path}:{int(line) + sentence.token_rows[index]}"


Item = tuple[np.ndarray, list[np.ndarray] | None, np.ndarray | None, list[str]]


def encode_sentence(
    words: WordTokenizer, chars: CharTokenizer | None, tokens: Sequence[str], max_word_length: int
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Word ids of ``tokens`` and, with a character vocabulary, each token's character ids (cut)."""
    word_ids = words.encode_tokens(tokens)
    char_ids = None if chars is None else [chars.encode(t)[:max_word_length] for t in tokens]
    return word_ids, char_ids


def collate_sentences(items: Sequence[Item]) -> dict[str, Any]:
    """Items -> ``words`` [B,T], ``lengths`` [B], ``chars`` [B,T,C] and ``char_lengths`` [B,T] (or
    ``None``), ``tags`` [B,T] with ``IGNORE_INDEX`` at padding (or ``None``), and the ``tokens``."""
    words = pad([w for w, _, _, _ in items])
    batch: dict[str, Any] = {
        "words": words,
        "lengths": torch.tensor([len(w) for w, _, _, _ in items], dtype=torch.long),
        "chars": None,
        "char_lengths": None,
        "tags": None,
        "tokens": [tokens for _, _, _, tokens in items],
    }
    if items[0][1] is not None:
        longest = max(len(c) for _, chars, _, _ in items for c in chars or [])
        chars_t = torch.zeros(*words.shape, max(longest, 1), dtype=torch.long)
        lengths_t = torch.zeros(words.shape, dtype=torch.long)
        for i, (_, chars, _, _) in enumerate(items):
            for j, c in enumerate(chars or []):
                chars_t[i, j, : len(c)] = torch.as_tensor(c, dtype=torch.long)
                lengths_t[i, j] = len(c)
        batch["chars"], batch["char_lengths"] = chars_t, lengths_t
    if all(tags is not None for _, _, tags, _ in items):
        batch["tags"] = pad([tags for _, _, tags, _ in items], value=IGNORE_INDEX)  # type: ignore[misc]
    return batch


class LabellingData(SupervisedData):
    """Labelled sentences -> word (and character) vocabularies and tag set -> length-bucketed batches.

    Vocabularies and the tag set are fitted in ``__init__`` on the training split; the CLI links
    ``data.vocab_size``, ``data.char_vocab_size`` (0 without characters) and ``data.labels`` into the
    model.

    Args:
        source: where the sentences come from (default: built-in lexical stress on CMUdict).
        words: the word vocabulary (size cap, minimum frequency, lowercasing).
        characters: also give the model each token's characters (for a character encoder).
        char_min_freq: characters rarer than this in training are unknown.
        max_word_length: characters per token kept for the character encoder.
        batch_size: see :class:`SupervisedData`.
        eval_batch_size: see :class:`SupervisedData`.
        seed: see :class:`SupervisedData`.
        num_workers: see :class:`SupervisedData`.
    """

    def __init__(
        self,
        source: LabellingSource = lazy_instance(CmudictStress),
        words: WordTokenizer = lazy_instance(WordTokenizer),
        characters: bool = True,
        char_min_freq: int = 1,
        max_word_length: int = 30,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, num_workers)
        checked_settings.whole_number("data.char_min_freq", char_min_freq)
        checked_settings.whole_number("data.max_word_length", max_word_length)
        self.max_word_length = max_word_length
        self.raw = source.load()
        train = self.raw["train"]
        untagged = next((s for s in train if s.tags is None), None)
        if untagged is not None:
            raise DataError(f"{untagged.where}: training sentences need tags")
        self._repair_iob1()
        # A copy: the default is one lazy_instance shared by every LabellingData, and fit_tokens()
        # keeps a vocabulary it already has.
        origin = checked_settings.training_origin(source)
        self.words = checked_settings.fitted(
            "data.words", origin, lambda: copy.deepcopy(words).fit_tokens(s.tokens for s in train)
        )
        self.chars = (
            checked_settings.fitted(
                "data",
                origin,
                lambda: CharTokenizer(char_min_freq).fit([t for s in train for t in s.tokens]),
                {"min_freq": "char_min_freq"},
            )
            if characters
            else None
        )
        self.tag_set = LabelSet.fit((t for s in train for t in s.tags or []), what="tag")
        # Per evaluation split: each tag training never saw -> (tokens with it, where the first is).
        self.unseen_tags: dict[str, dict[str, tuple[int, str]]] = {}
        for split, sentences in self.raw.items():
            self.splits[split] = self._encode(split, sentences)
        self._print_summary()

    def _print_summary(self) -> None:
        parts = [summary.vocabulary(self.words)]
        parts.append(f"{self.chars.vocab_size} characters" if self.chars is not None else "")
        parts.append(summary.labels(self.labels, "tags"))
        parts.append(summary.lengths(self.splits["train"].lengths, "tokens per training sentence"))
        if "validation" in self.splits:
            parts.append(f"{self._unknown_rate('validation'):.1%} of validation tokens are unknown words")
        parts.extend(self._unseen_tags_note(split) for split in self.unseen_tags)
        counts = {split: len(sentences) for split, sentences in self.raw.items()}
        summary.print_summary(summary.data_summary("labelling", counts, "sentences", parts))

    def _repair_iob1(self) -> None:
        """BIO tags in IOB1 form (a span may start with I-) become IOB2 in every split, with the same
        spans, so that a CRF's BIO constraints hold and predictions come out in IOB2."""
        if tag_scheme(t for s in self.raw["train"] for t in s.tags or []) != "BIO":
            return
        changed = 0
        for sentences in self.raw.values():
            for s in sentences:
                if s.tags is not None and (fixed := to_iob2(s.tags)) != s.tags:
                    changed += sum(a != b for a, b in zip(fixed, s.tags, strict=True))
                    s.tags = fixed
        if changed:
            rank_zero_info(f"labelling: {changed} IOB1 tags (a span starting with I-) rewritten as B- (IOB2)")

    def _unseen_tags_note(self, split: str) -> str:
        """``test: 1 token tagged 'SYM' (first at test.conllu:5), a tag training never had: scored as
        wrong``."""
        tags = self.unseen_tags[split]
        tokens = sum(n for n, _ in tags.values())
        listed = ", ".join(f"{tag!r} (first at {where})" for tag, (_, where) in tags.items())
        return (
            f"{split}: {tokens} token{'s' if tokens != 1 else ''} tagged {listed}, "
            f"{'a tag' if len(tags) == 1 else 'tags'} training never had: scored as wrong"
        )

    def _tag_ids(self, split: str, sentence: LabelledSentence) -> np.ndarray:
        """The tag ids of a sentence; in evaluation splits a tag training never had is
        ``UNSEEN_TAG`` (counted for the summary), since refusing it would refuse the test set."""
        tags = sentence.tags or []
        if split == "train" or all(t in self.tag_set for t in tags):
            return np.array([self.tag_set.encode(t, _token_where(sentence, i)) for i, t in enumerate(tags)])
        seen = self.unseen_tags.setdefault(split, {})
        ids = []
        for i, tag in enumerate(tags):
            if tag in self.tag_set:
                ids.append(self.tag_set.encode(tag))
            else:
                count, where = seen.get(tag, (0, _token_where(sentence, i)))
                seen[tag] = (count + 1, where)
                ids.append(UNSEEN_TAG)
        return np.array(ids)

    def _encode(self, split: str, sentences: list[LabelledSentence]) -> EncodedSplit:
        if not sentences:
            raise DataError(f"the {split} split has no sentences")
        items: list[Item] = []
        for s in sentences:
            if not s.tokens:
                raise DataError(f"{s.where}: empty sentence")
            if s.tags is not None and len(s.tags) != len(s.tokens):
                raise DataError(f"{s.where}: {len(s.tokens)} tokens but {len(s.tags)} tags")
            word_ids, char_ids = encode_sentence(self.words, self.chars, s.tokens, self.max_word_length)
            tags = None if s.tags is None else self._tag_ids(split, s)
            items.append((word_ids, char_ids, tags, s.tokens))
        return EncodedSplit(items, [len(s.tokens) for s in sentences])

    def _unknown_rate(self, split: str) -> float:
        ids = [w for words, _, _, _ in self.splits[split].items for w in words]
        return sum(i == self.words.unk_id for i in ids) / max(len(ids), 1)

    @property
    def vocab_size(self) -> int:
        return self.words.vocab_size

    @property
    def char_vocab_size(self) -> int:
        return 0 if self.chars is None else self.chars.vocab_size

    @property
    def labels(self) -> list[str]:
        return list(self.tag_set.labels)

    @property
    def tokenizer(self) -> WordTokenizer:
        """The word vocabulary (matched against pretrained embedding files)."""
        return self.words

    def collate(self, items: list[Any]) -> dict[str, Any]:
        return collate_sentences(items)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint, so a checkpoint alone can tag new text."""
        return {
            "tokenizer": self.words.state_dict(),
            "chars": None if self.chars is None else self.chars.state_dict(),
            "labels": self.labels,
            "max_word_length": self.max_word_length,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.state_dict() != state_dict:
            raise ValueError(
                "the checkpoint was trained with different vocabularies or tags than this data "
                "configuration builds; use the same data settings as the original run"
            )
