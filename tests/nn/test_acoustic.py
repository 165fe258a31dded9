"""AcousticEncoder and CTCModel: output lengths per subsampling mode, padding independence, checks."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn import AcousticConfig
from seqlab.nn.acoustic import AcousticEncoder, CTCModel, stack_frames

MODES = [("none", 1), ("stack", 3), ("stack", 4), ("pyramid", 2), ("pyramid", 4)]


@pytest.mark.parametrize(("subsampling", "factor"), MODES)
@pytest.mark.parametrize("cell", ["lstm", "gru", "minlstm"])
def test_output_lengths_match_the_outputs(subsampling, factor, cell):
    encoder = AcousticEncoder(
        5,
        AcousticConfig(
            hidden_size=6, num_layers=3, cell=cell, subsampling=subsampling, subsampling_factor=factor
        ),
    ).eval()
    lengths = torch.tensor([13, 7, 1, 12])
    out, out_lengths = encoder(torch.randn(4, 13, 5), lengths)
    expected = [-(-n // factor) for n in lengths.tolist()]  # ceil: a partial group is still a frame
    assert out_lengths.tolist() == expected == encoder.output_lengths(lengths).tolist()
    assert out.shape == (4, max(expected), 12)
    for row, n in zip(out, expected, strict=True):  # zeros past each utterance's end
        assert (row[n:] == 0).all() and (row[:n].abs().sum(-1) > 0).all()


@pytest.mark.parametrize(("subsampling", "factor"), MODES)
def test_padding_does_not_change_an_utterance(subsampling, factor):
    """An utterance encodes the same alone and padded in a batch with a longer one, whatever the
    padding holds (packed sequences; stacking masks padding before grouping frames)."""
    model = CTCModel(
        7,
        5,
        AcousticConfig(
            hidden_size=6, num_layers=3, subsampling=subsampling, subsampling_factor=factor, projection_size=4
        ),
    ).eval()
    short = torch.randn(1, 9, 5)
    alone, alone_lengths = model(short, torch.tensor([9]))
    batch = torch.randn(2, 17, 5) * 10  # garbage in the padding of row 0
    batch[0, :9] = short[0]
    together, lengths = model(batch, torch.tensor([9, 17]))
    n = int(alone_lengths[0])
    assert int(lengths[0]) == n
    torch.testing.assert_close(together[0, :n], alone[0, :n], atol=1e-5, rtol=1e-5)


def test_ctc_model_gives_float32_log_probabilities_under_autocast():
    model = CTCModel(
        6,
        4,
        AcousticConfig(hidden_size=8, num_layers=2, cell="lstm", subsampling="stack", subsampling_factor=2),
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        log_probs, lengths = model(torch.randn(2, 10, 4), torch.tensor([10, 5]))
    assert log_probs.dtype == torch.float32 and log_probs.shape == (2, 5, 6)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 5))
    assert lengths.tolist() == [5, 3]


def test_stack_frames_groups_consecutive_frames():
    x = torch.arange(1, 8, dtype=torch.float32).reshape(1, 7, 1)
    stacked, lengths = stack_frames(x, torch.tensor([7]), 3)
    assert stacked[0].tolist() == [[1, 2, 3], [4, 5, 6], [7, 0, 0]]
    assert lengths.tolist() == [3]


def test_bad_subsampling_settings_are_refused():
    with pytest.raises(ValueError, match="power of two"):
        AcousticEncoder(4, AcousticConfig(num_layers=3, subsampling="pyramid", subsampling_factor=3))
    with pytest.raises(ValueError, match="power of two"):
        AcousticEncoder(
            4, AcousticConfig(num_layers=2, subsampling="pyramid", subsampling_factor=4)
        )  # needs 3 layers
    with pytest.raises(ValueError, match="subsampling_factor"):
        AcousticEncoder(4, AcousticConfig(subsampling="none", subsampling_factor=2))
    with pytest.raises(ValueError, match="subsampling must be"):
        AcousticEncoder(4, AcousticConfig(subsampling="conv"))  # type: ignore[arg-type]
