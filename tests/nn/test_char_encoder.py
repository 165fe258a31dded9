"""CharWordEncoder: per-word final states of a character BiRNN; padding words are zero and never run."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn import CharWordEncoder

CV, E, H = 11, 4, 5


def _reference(encoder: CharWordEncoder, word: torch.Tensor) -> torch.Tensor:
    """Both directions' final states for one word run unpacked: forward at the last char, backward at 0."""
    outputs, _ = encoder.rnn.rnn(encoder.embedding(word).unsqueeze(0))
    return torch.cat([outputs[0, -1, :H], outputs[0, 0, H:]])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_output_is_final_states_per_word_and_zero_on_padding(cell: str) -> None:
    encoder = CharWordEncoder(CV, E, H, cell=cell).eval()
    assert encoder.output_size == 2 * H
    char_lengths = torch.tensor([[3, 1, 6], [2, 0, 0]])
    chars = torch.randint(CV, (2, 3, 6))
    chars[1, 1:] = CV + 100  # padding words hold ids outside the vocabulary: they must never be embedded
    with torch.no_grad():
        out = encoder(chars, char_lengths)
        assert out.shape == (2, 3, 2 * H)
        assert (out[1, 1:] == 0).all()
        for b, t in [(0, 0), (0, 1), (0, 2), (1, 0)]:
            n = int(char_lengths[b, t])
            torch.testing.assert_close(out[b, t], _reference(encoder, chars[b, t, :n]), atol=1e-6, rtol=1e-5)


def test_word_vector_ignores_character_padding_and_batch() -> None:
    """A word encodes the same alone as among longer words, whatever its padding characters are."""
    encoder = CharWordEncoder(CV, E, H).eval()
    word = torch.randint(CV, (1, 1, 2))
    chars = torch.randint(CV, (2, 4, 9))
    chars[1, 2, :2] = word[0, 0]
    char_lengths = torch.tensor([[9, 7, 8, 3], [5, 9, 2, 0]])
    with torch.no_grad():
        alone = encoder(word, torch.tensor([[2]]))
        together = encoder(chars, char_lengths)
        torch.testing.assert_close(together[1, 2], alone[0, 0], atol=1e-6, rtol=1e-5)
        chars[1, 2, 2:] = (chars[1, 2, 2:] + 1) % CV
        torch.testing.assert_close(encoder(chars, char_lengths), together, atol=1e-6, rtol=1e-5)


def test_all_padding_batch_gives_zeros() -> None:
    encoder = CharWordEncoder(CV, E, H)
    out = encoder(torch.zeros(2, 3, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    assert out.shape == (2, 3, 2 * H) and (out == 0).all()


def test_gradients_reach_the_character_embedding() -> None:
    encoder = CharWordEncoder(CV, E, H)
    chars = torch.randint(CV, (2, 3, 4))
    encoder(chars, torch.tensor([[4, 2, 0], [1, 0, 0]])).sum().backward()
    grad = encoder.embedding.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
