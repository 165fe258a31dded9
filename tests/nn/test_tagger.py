"""RecurrentTagger: padding-invariant emissions, losses that ignore padding, decoding lengths."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from seqlab.nn import RecurrentTagger, TaggerConfig, lengths_to_mask

V, CV, K = 19, 9, 5


def _tagger(chars: bool, bidirectional: bool = True, crf: bool = False, **kwargs) -> RecurrentTagger:
    return RecurrentTagger(
        V,
        K,
        char_vocab_size=CV if chars else 0,
        config=TaggerConfig(
            word_embedding_size=6,
            char_embedding_size=3,
            char_hidden_size=4,
            hidden_size=7,
            bidirectional=bidirectional,
            crf=crf,
            **kwargs,
        ),
    )


def _sentences(lengths: list[int], max_chars: int = 6) -> dict[str, torch.Tensor]:
    """Random padded inputs; padding words and characters hold real ids, so ignoring them matters."""
    lengths_t = torch.tensor(lengths)
    batch, steps = len(lengths), max(lengths)
    char_lengths = torch.randint(1, max_chars + 1, (batch, steps))
    char_lengths = char_lengths.masked_fill(~lengths_to_mask(lengths_t, steps), 0)
    return {
        "words": torch.randint(V, (batch, steps)),
        "lengths": lengths_t,
        "chars": torch.randint(CV, (batch, steps, max_chars)),
        "char_lengths": char_lengths,
    }


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("chars", [False, True], ids=["words", "words+chars"])
def test_emissions_are_padding_invariant(chars: bool, bidirectional: bool, cell: str) -> None:
    """A sentence's emissions are the same alone as in a batch of much longer sentences with longer words."""
    model = _tagger(chars, bidirectional, cell=cell).eval()
    batch = _sentences([15, 3, 12], max_chars=10)
    alone = {
        "words": batch["words"][1:2, :3],
        "lengths": torch.tensor([3]),
        "chars": batch["chars"][1:2, :3, :4].clone(),
        "char_lengths": batch["char_lengths"][1:2, :3].clamp(max=4),
    }
    batch["chars"][1, :3, :4] = alone["chars"][0]
    batch["char_lengths"][1, :3] = alone["char_lengths"][0]
    with torch.no_grad():
        together = model(**batch)
        single = model(**alone)
    assert together.shape == (3, 15, K) and single.shape == (1, 3, K)
    torch.testing.assert_close(together[1:2, :3], single, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_decode_gives_one_tag_per_token(crf: bool) -> None:
    model = _tagger(chars=True, crf=crf).eval()
    assert (model.crf is None) == (not crf)
    batch = _sentences([4, 1, 7, 2])
    with torch.no_grad():
        emissions = model(**batch)
    paths = model.decode(emissions, batch["lengths"])
    assert [len(p) for p in paths] == [4, 1, 7, 2]
    assert all(0 <= tag < K for path in paths for tag in path)
    argmax = [row[:n] for row, n in zip(emissions.argmax(-1).tolist(), [4, 1, 7, 2], strict=True)]
    if crf:  # strong transitions: Viterbi, not per-token argmax
        assert model.crf is not None
        with torch.no_grad():
            model.crf.transitions.normal_(0, 5.0)
        paths = model.decode(emissions, batch["lengths"])
        assert paths == model.crf.viterbi(emissions, lengths_to_mask(batch["lengths"]))[0]
        assert paths != argmax
    else:
        assert paths == argmax


def test_cross_entropy_loss_ignores_padding() -> None:
    """Token-level cross-entropy over real tokens only, whatever the padded positions hold."""
    model = _tagger(chars=False)
    batch = _sentences([4, 2, 5])
    emissions = model(**batch)
    mask = lengths_to_mask(batch["lengths"])
    tags = torch.randint(K, mask.shape)
    loss = model.loss(emissions, tags.masked_fill(~mask, -100), batch["lengths"])
    expected = F.cross_entropy(emissions[mask], tags[mask])
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(model.loss(emissions, tags.masked_fill(~mask, 3), batch["lengths"]), expected)
    loss.backward()
    assert model.embedding.weight.grad is not None and torch.isfinite(model.embedding.weight.grad).all()


def test_crf_loss_is_the_mean_sentence_nll() -> None:
    model = _tagger(chars=True, crf=True)
    batch = _sentences([4, 2, 5])
    emissions = model(**batch)
    mask = lengths_to_mask(batch["lengths"])
    tags = torch.randint(K, mask.shape).masked_fill(~mask, -100)
    loss = model.loss(emissions, tags, batch["lengths"])
    assert model.crf is not None
    torch.testing.assert_close(loss, model.crf.nll(emissions, tags, mask).mean())
    assert loss.ndim == 0 and loss > 0
    loss.backward()
    assert model.crf.transitions.grad is not None and model.crf.transitions.grad.abs().sum() > 0
    assert model.char_encoder is not None and model.char_encoder.embedding.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_loss_is_float32_under_bfloat16_autocast(crf: bool) -> None:
    model = _tagger(chars=True, crf=crf)
    batch = _sentences([4, 2, 5])
    tags = torch.randint(K, (3, 5)).masked_fill(~lengths_to_mask(batch["lengths"]), -100)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emissions = model(**batch)
        assert emissions.dtype == torch.bfloat16
        loss = model.loss(emissions, tags, batch["lengths"])
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, model.loss(emissions.float(), tags, batch["lengths"]), atol=0, rtol=0)


def test_char_encoder_needs_chars() -> None:
    model = _tagger(chars=True)
    batch = _sentences([3, 2])
    with pytest.raises(ValueError, match="chars"):
        model(batch["words"], batch["lengths"])
    assert _tagger(chars=False).char_encoder is None


def test_crf_tagger_fits_a_tiny_task() -> None:
    """A few optimiser steps on tag = f(word) bring Viterbi decoding to the gold tags."""
    model = _tagger(chars=False, crf=True)
    batch = _sentences([6, 4, 5, 3])
    mask = lengths_to_mask(batch["lengths"])
    tags = (batch["words"] % K).masked_fill(~mask, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(model(**batch), tags, batch["lengths"]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        paths = model.decode(model(**batch), batch["lengths"])
    assert paths == [tags[b, :n].tolist() for b, n in enumerate(batch["lengths"].tolist())]
