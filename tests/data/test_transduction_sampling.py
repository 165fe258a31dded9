"""Subword regularization in transduction: with a sampling sentencepiece tokenizer on a side (BPE-dropout
here, on the real Japanese-English pairs of ../shared/data/translation), training pairs are segmented
anew each epoch on that side, reproducibly from the epoch and the pair; the other side, validation and
the saved tokenizers keep the best segmentation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from seqlab.data.modules.transduction import BOS, EOS, SPECIALS, TransductionData, detokenize_target
from seqlab.data.sources.transduction import ParallelFiles
from seqlab.data.tokenizers.subwords import SentencePieceTokenizer
from tests.shared_data import shared_file

RANK_ZERO = "lightning.pytorch.utilities.rank_zero"
JA, EN = str(shared_file("translation/dev.ja")), str(shared_file("translation/dev.en"))


def pairs_data(source_alpha: float | None, target_alpha: float | None, seed: int = 3) -> TransductionData:
    """The 500 real dev pairs as training and validation data, BPE on each side."""
    files = ParallelFiles(train=[JA, EN], validation=[JA, EN])
    return TransductionData(
        files,
        source_tokenizer=SentencePieceTokenizer(
            model_type="bpe", vocab_size=1000, sampling_alpha=source_alpha
        ),
        target_tokenizer=SentencePieceTokenizer(
            model_type="bpe", vocab_size=500, sampling_alpha=target_alpha
        ),
        batch_size=16,
        seed=seed,
    )


def summary_of(
    build: Callable[[], TransductionData], caplog: pytest.LogCaptureFixture
) -> tuple[TransductionData, str]:
    """The data ``build`` returns and the data summary it printed."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=RANK_ZERO):
        data = build()
    (line,) = [r.getMessage() for r in caplog.records if " data: " in r.getMessage()]
    return data, line


def epoch_pairs(data: TransductionData, epoch: int) -> list[tuple[str, list[int], list[int]]]:
    """(source text, source ids, target ids without BOS/EOS) of every training pair the loader gives
    in ``epoch``, from a fresh loader each call, in source-text order."""
    loader = data.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    out = []
    for batch in loader:
        for row, text in enumerate(batch["sources"]):
            source = batch["source"][row, : batch["source_lengths"][row]].tolist()
            target = batch["target_out"][row].tolist()
            out.append((text, source, target[: target.index(EOS)]))
            assert batch["target_in"][row, 0] == BOS
    return sorted(out)


def test_sampled_sides_are_segmented_anew_each_epoch_and_reproducibly(caplog) -> None:
    """Source-side BPE-dropout: each epoch draws new source segmentations, the same ones from a fresh
    loader (as after a resume or in another process), each spelling its text; the target side and
    validation keep the best segmentation. Then both sides: the target is drawn anew too, seeded apart
    from the source."""
    data, line = summary_of(lambda: pairs_data(0.1, None), caplog)
    assert "training pairs segmented anew every epoch (subword sampling, source alpha 0.1)" in line
    zero, one = epoch_pairs(data, 0), epoch_pairs(data, 1)
    assert epoch_pairs(data, 0) == zero and epoch_pairs(data, 1) == one and len(zero) == 500
    source_tok, target_tok = data.source_tokenizer, data.target_tokenizer
    assert all(source_tok.detokenize(ids) == text for text, ids, _ in zero)
    best = {text: source_tok.encode(text).tolist() for text, _, _ in zero}
    assert sum(ids != best[text] for text, ids, _ in zero) > 100
    assert sum(a[1] != b[1] for a, b in zip(zero, one, strict=True)) > 100
    assert all(a[2] == b[2] for a, b in zip(zero, one, strict=True))  # the target side does not sample
    for batch in data.val_dataloader():
        for row, text in enumerate(batch["sources"]):
            assert batch["source"][row, : batch["source_lengths"][row]].tolist() == best[text]
    assert epoch_pairs(pairs_data(0.1, None, seed=4), 0) != zero

    both, line = summary_of(lambda: pairs_data(0.1, 0.1), caplog)
    assert "(subword sampling, source alpha 0.1, target alpha 0.1)" in line
    zero, one = epoch_pairs(both, 0), epoch_pairs(both, 1)
    english = dict(
        zip(Path(JA).read_text("utf-8").splitlines(), Path(EN).read_text("utf-8").splitlines(), strict=True)
    )
    target_tok = both.target_tokenizer
    assert all(detokenize_target(target_tok, [*target, EOS]) == english[text] for text, _, target in zero)
    fixed = {text: (target_tok.encode(english[text]) + SPECIALS).tolist() for text, _, _ in zero}
    assert sum(target != fixed[text] for text, _, target in zero) > 100
    assert sum(a[2] != b[2] for a, b in zip(zero, one, strict=True)) > 100
    # Drawing the target side too leaves the source side's draws as they were (each side its own seed).
    assert [ids for _, ids, _ in zero] == [ids for _, ids, _ in epoch_pairs(pairs_data(0.1, None), 0)]


def test_a_joint_sampling_tokenizer_samples_both_sides(caplog) -> None:
    files = ParallelFiles(train=[JA, EN], validation=[JA, EN])
    joint = SentencePieceTokenizer(model_type="unigram", vocab_size=1500, sampling_alpha=0.2)
    data, line = summary_of(
        lambda: TransductionData(files, source_tokenizer=joint, joint_tokenizer=True, batch_size=16), caplog
    )
    assert "(subword sampling, both sides alpha 0.2)" in line
    pairs = epoch_pairs(data, 0)
    assert all(data.source_tokenizer.detokenize(ids) == text for text, ids, _ in pairs)
