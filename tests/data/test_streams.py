"""StreamWindows: parallel contiguous streams cut into consecutive windows for truncated BPTT."""

from __future__ import annotations

import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.modules.streams import StreamWindows


def _stream_rows(windows: StreamWindows) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item's inputs and targets glued back together along time: [B, stream_length]."""
    items = [windows[k] for k in range(len(windows))]
    return torch.cat([x for x, _ in items], dim=1), torch.cat([y for _, y in items], dim=1)


@pytest.mark.parametrize(("n", "batch_size", "seq_len"), [(1000, 4, 7), (97, 3, 5), (65, 8, 8), (10, 1, 20)])
def test_windows_continue_each_stream_and_targets_are_shifted(n: int, batch_size: int, seq_len: int) -> None:
    """For every stream and window, the next window starts right after this one, and targets = inputs + 1."""
    windows = StreamWindows(torch.arange(n), batch_size, seq_len)
    length = (n - 1) // batch_size
    assert windows.stream_length == length
    assert len(windows) == -(-length // seq_len)
    for k in range(len(windows)):
        x, y = windows[k]
        assert x.shape == y.shape
        assert x.shape[0] == batch_size
        assert x.dtype == y.dtype == torch.long
        assert torch.equal(y, x + 1)
        # within a window, consecutive tokens
        assert torch.equal(x[:, 1:] - x[:, :-1], torch.ones_like(x[:, 1:]))
        if k + 1 < len(windows):
            assert x.shape[1] == seq_len
            nxt, _ = windows[k + 1]
            for b in range(batch_size):
                assert nxt[b, 0].item() == x[b, -1].item() + 1
    # stream b starts at b * length
    first, _ = windows[0]
    assert first[:, 0].tolist() == [b * length for b in range(batch_size)]


def test_last_window_is_shorter_and_every_token_is_covered_once() -> None:
    """With a stream length that is not a multiple of seq_len the last window is short; together the
    windows cover every stream position exactly once, and every target is predicted once."""
    n, batch_size, seq_len = 1000, 4, 7
    windows = StreamWindows(torch.arange(n), batch_size, seq_len)
    length = (n - 1) // batch_size  # 249 = 35 * 7 + 4
    assert len(windows) == 36
    assert windows[len(windows) - 1][0].shape == (batch_size, length % seq_len)
    inputs, targets = _stream_rows(windows)
    assert inputs.shape == (batch_size, length)
    assert sorted(inputs.flatten().tolist()) == list(range(batch_size * length))
    assert sorted(targets.flatten().tolist()) == list(range(1, batch_size * length + 1))
    assert windows.num_tokens == batch_size * length


def test_exact_multiple_has_no_short_window() -> None:
    """When the stream length divides by seq_len, all windows are full and there is no empty extra one."""
    windows = StreamWindows(torch.arange(2 * 12 + 1), batch_size=2, seq_len=4)
    assert windows.stream_length == 12
    assert len(windows) == 3
    assert all(windows[k][0].shape == (2, 4) for k in range(3))


def test_ranks_split_the_streams_of_a_doubled_batch() -> None:
    """With world_size=2 the ranks own disjoint streams which together are rank 0 of world_size=1 with
    batch_size doubled."""
    ids = torch.arange(1234)
    whole = StreamWindows(ids, batch_size=6, seq_len=10)
    rank0 = StreamWindows(ids, batch_size=3, seq_len=10, rank=0, world_size=2)
    rank1 = StreamWindows(ids, batch_size=3, seq_len=10, rank=1, world_size=2)
    assert len(rank0) == len(rank1) == len(whole)
    for k in range(len(whole)):
        x0, y0 = rank0[k]
        x1, y1 = rank1[k]
        xw, yw = whole[k]
        assert torch.equal(torch.cat([x0, x1]), xw)
        assert torch.equal(torch.cat([y0, y1]), yw)
    in0, _ = _stream_rows(rank0)
    in1, _ = _stream_rows(rank1)
    assert set(in0.flatten().tolist()).isdisjoint(in1.flatten().tolist())


def test_windows_keep_token_values_of_arbitrary_ids() -> None:
    """Non-arange int32 ids come out as the same values (as int64), stream by stream."""
    ids = torch.tensor([5, 3, 9, 9, 0, 2, 7, 1, 4], dtype=torch.int32)
    windows = StreamWindows(ids, batch_size=2, seq_len=3)
    x, y = windows[0]
    assert x.tolist() == [[5, 3, 9], [0, 2, 7]]
    assert y.tolist() == [[3, 9, 9], [2, 7, 1]]
    x, y = windows[1]
    assert x.tolist() == [[9], [1]]
    assert y.tolist() == [[0], [4]]


def test_too_few_tokens_raises_naming_the_split() -> None:
    """A split too small for its streams raises DataError naming the split and the numbers."""
    with pytest.raises(DataError, match=r"the validation split has 4 tokens, too few for 4 streams"):
        StreamWindows(torch.arange(4), batch_size=2, seq_len=8, world_size=2, name="validation")
    # one token more is enough for one token per stream
    assert len(StreamWindows(torch.arange(5), batch_size=2, seq_len=8, world_size=2, name="validation")) == 1


def test_bad_arguments_and_out_of_range_index() -> None:
    """Non-1-D ids, non-positive sizes and indices past the end are errors."""
    with pytest.raises(ValueError, match="1-D"):
        StreamWindows(torch.zeros(2, 10, dtype=torch.long), 1, 4)
    with pytest.raises(ValueError, match="positive"):
        StreamWindows(torch.arange(100), 0, 4)
    with pytest.raises(ValueError, match="positive"):
        StreamWindows(torch.arange(100), 2, 0)
    windows = StreamWindows(torch.arange(100), 2, 10)
    with pytest.raises(IndexError):
        windows[len(windows)]
    with pytest.raises(IndexError):
        windows[-1]
