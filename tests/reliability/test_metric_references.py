"""Metrics and search rules against independent references: the transduction task's BLEU and chrF
against sacrebleu called directly on its decoded outputs, and n-gram blocking against brute force."""

from __future__ import annotations

import random

import lightning as L
import pytest
import sacrebleu
import torch

from seqlab.data import TransductionData, WordTokenizer
from seqlab.data.examples import ParallelExample
from seqlab.data.sources.transduction import ParallelSource
from seqlab.engine.task_data import hand_data
from seqlab.nn import Seq2SeqConfig
from seqlab.nn.search import beam_search
from seqlab.nn.search_rules import ban_repeated_ngrams
from seqlab.tasks import TransductionTask
from tests.nn.test_search import CONTENT, EOS, MarkovDecoder, _assert_same, _batch, _brute_force

WORDS = ["red", "cat", "sat", "on", "a", "big", "mat", "today", "then", "ran", "the", "dog"]


class Reversal(ParallelSource):
    """Sentences and their word-reversed translations; validation items have one to three references
    (the reversal, the sentence itself, and a paraphrase), so sacrebleu's reference streams are ragged."""

    def load(self) -> dict[str, list[ParallelExample]]:
        rng = random.Random(0)
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(72)]
        train = [
            ParallelExample(s, [" ".join(reversed(s.split()))], f"train:{i}")
            for i, s in enumerate(sentences[:60])
        ]
        validation = []
        for i, s in enumerate(sentences[60:]):
            refs = [" ".join(reversed(s.split())), s, f"{s} then"][: 1 + i % 3]
            validation.append(ParallelExample(s, refs, f"validation:{i}"))
        return {"train": train, "validation": validation}


class KeepOutputs(L.Callback):
    """The (source, references, hypothesis) triples the task decoded in a validation. Callbacks'
    ``on_validation_epoch_end`` runs before the module's, which scores and clears them."""

    def __init__(self) -> None:
        self.outputs: list[tuple[str, list[str], str]] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.outputs = list(module._outputs)


@pytest.mark.parametrize("beam", [1, 3])
def test_translation_metrics_equal_sacrebleu_on_the_decoded_outputs(beam: int) -> None:
    data = TransductionData(Reversal(), WordTokenizer(), WordTokenizer(), batch_size=8, eval_batch_size=5)
    task = TransductionTask(
        data.source_vocab_size,
        data.target_vocab_size,
        metrics="translation",
        eval_beam_size=beam,
        optimizer=lambda params: torch.optim.Adam(params, lr=0.02),
        net=Seq2SeqConfig(embedding_size=16, hidden_size=32, dropout=0.0),
    )
    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    quiet |= {"enable_model_summary": False, "use_distributed_sampler": False}
    hand_data(task, data)  # what seqlab's engine does after building
    L.Trainer(max_steps=40, limit_val_batches=0, **quiet).fit(task, data)
    keep = KeepOutputs()
    (metrics,) = L.Trainer(callbacks=[keep], **quiet).validate(task, data, verbose=False)
    hyps = [hyp for _, _, hyp in keep.outputs]
    refs = [refs for _, refs, _ in keep.outputs]
    assert len(hyps) == 12 and sorted(len(r) for r in refs) == [1] * 4 + [2] * 4 + [3] * 4
    # sacrebleu's layout: stream k holds every item's k-th reference, None where an item has fewer
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(3)]
    bleu = sacrebleu.corpus_bleu(hyps, streams)
    chrf = sacrebleu.corpus_chrf(hyps, streams)
    assert 0 < bleu.score < 100 and 0 < chrf.score < 100  # a partly right model: the scores discriminate
    assert metrics["val/bleu"] == pytest.approx(bleu.score, rel=1e-6)
    assert metrics["val/chrf"] == pytest.approx(chrf.score, rel=1e-6)


# ---- n-gram blocking --------------------------------------------------------------------------------
def _must_block(history: list[int], n: int) -> set[int]:
    """Brute force: the tokens x for which history + [x] ends in an n-gram already in history."""
    if len(history) < n:
        return set()
    seen = {tuple(history[i : i + n]) for i in range(len(history) - n + 1)}
    prefix = tuple(history[len(history) - n + 1 :]) if n > 1 else ()
    return {gram[-1] for gram in seen if gram[:-1] == prefix}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ngram_blocking_bans_exactly_what_brute_force_bans(n: int) -> None:
    """Random rows over a small vocabulary (so n-grams repeat often), every prefix length: the banned
    tokens are exactly the brute-force set, and nothing else changes."""
    g = torch.Generator().manual_seed(n)
    vocab, rows, horizon = 5, 64, 14
    sequences = torch.randint(0, vocab, (rows, horizon), generator=g)
    sequences[: rows // 4] = sequences[: rows // 4, :3].repeat(1, 5)[:, :horizon]  # periodic rows
    blocked_any = 0
    for t in range(horizon + 1):
        log_probs = torch.randn(rows, vocab, generator=g).log_softmax(-1)
        out = ban_repeated_ngrams(log_probs.clone(), sequences[:, :t], n)
        for row in range(rows):
            want = _must_block(sequences[row, :t].tolist(), n)
            banned = set(torch.isinf(out[row]).nonzero().flatten().tolist())
            assert banned == want, (row, t, sequences[row, :t].tolist())
            blocked_any += len(want)
        assert torch.equal(out[torch.isfinite(out)], log_probs[torch.isfinite(out)])
    assert blocked_any > 0


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_wide_blocked_beam_finds_the_brute_force_best_without_repeats(n: int) -> None:
    """With room for every prefix, blocked beam search returns the best outputs among those without a
    repeated n-gram: it loses none of them to over-blocking and lets no repeat through."""
    max_len = 5

    def repeats(tokens: list[int]) -> bool:
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return len(set(grams)) < len(grams)

    for seed in range(3):
        model = MarkovDecoder(40 + seed, history=True, eos_bias=-1.0)
        src, lengths = _batch([2, 4], seed=seed)
        got = beam_search(
            model,
            src,
            lengths,
            beam_size=len(CONTENT) ** max_len,
            n_best=8,
            max_len=max_len,
            no_repeat_ngram_size=n,
        )
        for i in range(2):
            want = [
                h
                for h in _brute_force(model, src[i : i + 1], lengths[i : i + 1], max_len, 0.0)
                if not repeats(h.tokens)
            ]
            _assert_same(got[i], want[:8])


def test_brute_force_helpers_agree_on_a_hand_example() -> None:
    """The reference itself, on cases worked by hand: after 3 4 3 unigrams ban 3 and 4, bigrams ban 4
    (3 4 was seen), trigrams nothing (4 3 was never followed); after 3 4 3 4 trigrams ban 3."""
    history = [3, 4, 3]
    assert _must_block(history, 1) == {3, 4}
    assert _must_block(history, 2) == {4}
    assert _must_block(history, 3) == set()
    assert _must_block([3, 4, 3, 4], 3) == {3}
    assert EOS not in _must_block(history, 1)
