"""Every DataModule prints one data summary when its data is built (issue 15): examples per split, the
vocabulary or label set and its size, lengths, what was dropped and why. Classification from files and
transduction used to print nothing, not even the sentencepiece vocabulary size actually learned."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from seqlab.data import (
    ClassificationData,
    ClassificationFiles,
    LabelledFiles,
    LabellingData,
    LanguageModelData,
    ParallelFiles,
    SentencePieceTokenizer,
    TextFiles,
    TransductionData,
)

RANK_ZERO = "lightning.pytorch.utilities.rank_zero"


def _summaries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if " data: " in r.getMessage()]


def test_language_model_summary(tiny_corpus: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Tried: 40,000 + 6,000 characters as characters, 4 streams of windows of 16: the token counts, the
    streams, and the 3 training tokens past the last full stream ((40000 - 1) % 4)."""
    corpus = TextFiles(train=str(tiny_corpus["train"]), validation=str(tiny_corpus["validation"]))
    data = LanguageModelData(corpus, batch_size=4, seq_len=16)
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        data.setup("fit")
    (line,) = _summaries(caplog)
    assert line.startswith("language-model data: train 40,000, validation 6,000 tokens; vocabulary ")
    assert "training: 4 streams of 9,999 tokens per process, 625 windows of 16" in line
    assert "dropped: 3 train tokens past the last full stream" in line
    assert "unknown tokens" not in line  # the tiny corpus's validation text has no new character


def test_language_model_summary_counts_characters_training_never_had(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: validation text with 3 characters the training text lacks (é, 日, ☃): counted as unknown
    tokens, per split, with their share (they read as <unk>)."""
    (tmp_path / "train.txt").write_text("the cat sat on the mat\n" * 50, encoding="utf-8")
    (tmp_path / "val.txt").write_text("the cat sat on the mat\n" * 10 + "cat é 日 ☃\n", encoding="utf-8")
    corpus = TextFiles(train=str(tmp_path / "train.txt"), validation=str(tmp_path / "val.txt"))
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        LanguageModelData(corpus, batch_size=2, seq_len=8).setup("fit")
    (line,) = _summaries(caplog)
    assert "; unknown tokens validation 3 (1.25%);" in line


def test_classification_summary(tiny_tsv: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Tried: the 40/12-row TSV files as characters, texts cut to 16: counts, both labels, what was cut."""
    source = ClassificationFiles(train=str(tiny_tsv["train"]), validation=str(tiny_tsv["validation"]))
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        ClassificationData(source, max_length=16)
    (line,) = _summaries(caplog)
    assert line.startswith("classification data: train 40, validation 12 texts; vocabulary ")
    assert "(characters); 2 labels (animal, thing); tokens per training text p50 " in line
    cut = {
        s: sum(len(r.split("\t")[0]) > 16 for r in tiny_tsv[s].read_text().splitlines()[1:]) for s in tiny_tsv
    }
    assert 0 < cut["train"] < 40
    assert f"dropped: {cut['train']} train texts cut to max_length=16; {cut['validation']} validation" in line


def test_labelling_summary(tiny_conll: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    """Tried: 24/8 CoNLL sentences with PER and LOC spans: counts, words and the 4 tags seen."""
    source = LabelledFiles(train=str(tiny_conll["train"]), validation=str(tiny_conll["validation"]))
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        LabellingData(source)
    (line,) = _summaries(caplog)
    assert line.startswith("labelling data: train 24, validation 8 sentences; vocabulary ")
    assert "vocabulary 11 (words)" in line and "4 tags (B-LOC, B-PER, I-PER, O)" in line
    assert "dropped: none" in line


def test_transduction_summary_says_the_vocabulary_learned(
    tiny_parallel: dict[str, list[Path]], caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: a joint sentencepiece vocabulary of 8000 asked for on 40 short pairs: the summary says how
    many pieces were learned, and the 40 training pairs over max_target_length=3 that were dropped."""
    train, validation = ([str(p) for p in tiny_parallel[s]] for s in ("train", "validation"))
    source = ParallelFiles(train=train, validation=validation)
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        data = TransductionData(
            source, SentencePieceTokenizer(vocab_size=8000), joint_tokenizer=True, max_target_length=3
        )
    (line,) = _summaries(caplog)
    learned = data.source_tokenizer.vocab_size
    assert learned < 8000
    assert line.startswith("transduction data: train 40, validation 10 examples; ")
    assert f"joint vocabulary {learned} (sentencepiece; 8000 asked)" in line
    dropped = sum(len(s.split()) > 3 for s in tiny_parallel["train"][0].read_text().splitlines())
    assert f"dropped: {dropped} training pairs longer than" in line
