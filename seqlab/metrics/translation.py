"""Corpus-level BLEU and chrF through ``sacrebleu``, on detokenized text, with the signature string
that makes a reported score reproducible.

References are given per item (``references[i]`` holds item ``i``'s references, or is a single
string), the natural layout of ``ParallelExample.targets``; sacrebleu wants reference *streams*
(stream ``k`` holds every item's ``k``-th reference), so they are transposed here. Items may have
different numbers of references: the shorter ones are padded with ``None``, which sacrebleu skips
(its signature then says ``nrefs:var``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric


class CorpusScore(NamedTuple):
    """A score on sacrebleu's 0-100 scale and sacrebleu's signature of how it was computed."""

    score: float
    signature: str


def reference_streams(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str]
) -> list[list[str | None]]:
    """Per-item references -> sacrebleu's reference streams, padded with ``None`` where an item has
    fewer references than the most any item has."""
    if not hypotheses:
        raise ValueError("no hypotheses; expected one detokenized text per item")
    if not all(isinstance(h, str) for h in hypotheses):
        raise TypeError("hypotheses must be strings (detokenized texts)")
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses but references for {len(references)} items")
    per_item = [[refs] if isinstance(refs, str) else list(refs) for refs in references]
    for index, refs in enumerate(per_item):
        if not refs:
            raise ValueError(f"item {index} has no references; expected at least one")
        if not all(isinstance(r, str) for r in refs):
            raise TypeError(f"item {index}: references must be strings, got {refs!r}")
    width = max(len(refs) for refs in per_item)
    return [[refs[k] if k < len(refs) else None for refs in per_item] for k in range(width)]


def _score(
    metric: Metric, hypotheses: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str]
) -> CorpusScore:
    streams = reference_streams(hypotheses, references)
    result = metric.corpus_score(list(hypotheses), streams)  # type: ignore[arg-type]
    return CorpusScore(float(result.score), str(metric.get_signature()))


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]] | Sequence[str],
    tokenize: str = BLEU.TOKENIZER_DEFAULT,
    lowercase: bool = False,
) -> CorpusScore:
    """Corpus BLEU (sacrebleu's defaults: 13a tokenization, exp smoothing) of detokenized texts.

    ``references[i]`` is item ``i``'s reference or list of references; ``tokenize`` is a sacrebleu
    tokenizer name ("zh", "ja-mecab", "intl", ...) for languages 13a does not split.
    """
    return _score(BLEU(tokenize=tokenize, lowercase=lowercase), hypotheses, references)


def chrf(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str], word_order: int = 0
) -> CorpusScore:
    """Corpus chrF (character 6-grams, beta 2), or chrF++ with ``word_order=2``, of detokenized texts;
    ``references`` as for ``bleu``."""
    return _score(CHRF(word_order=word_order), hypotheses, references)
