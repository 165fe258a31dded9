"""Language-model batching as B contiguous parallel streams cut into consecutive windows.

Training: the token sequence is divided into ``B * world_size`` equal streams; rank ``r`` owns
streams ``r*B .. r*B+B-1``. Evaluation: the sequence is divided into ``B`` streams however many
processes there are (so the loss does not depend on the world size: where the text is cut decides
which tokens are predicted without history) and rank ``r`` owns streams ``r, r + world_size, ...``;
a rank left without a stream reads a copy of stream 0 whose targets are all ``IGNORE_INDEX`` (it
must still run every evaluation step). Item ``k`` is window ``k`` of every owned stream, so the
hidden state left by window ``k`` is the true history of window ``k+1`` (what truncated BPTT
carries across batches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset

from seqlab.data.errors import DataError

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index: a target that is not predicted or counted


class StreamWindows(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Windows over parallel streams; each item is a whole batch ``(inputs, targets)`` of shape [B, T].

    The last window may be shorter than ``seq_len`` so every token is predicted exactly once.
    ``evaluation``: ``batch_size`` streams over all ranks together, not per rank (see the module
    docstring); targets of a rank's filler stream are ``IGNORE_INDEX``.
    """

    def __init__(
        self,
        ids: torch.Tensor,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        name: str = "split",
        evaluation: bool = False,
    ) -> None:
        if ids.dim() != 1:
            raise ValueError("ids must be a 1-D tensor of token ids")
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be positive, got {batch_size} and {seq_len}")
        streams = batch_size if evaluation else batch_size * world_size
        length = (len(ids) - 1) // streams
        if length < 1:
            how = "evaluation streams" if evaluation else f"batch_size {batch_size} x {world_size} processes"
            raise DataError(
                f"the {name} split has {len(ids)} tokens, too few for {streams} streams "
                f"({how}); use more data or a smaller batch_size"
            )
        used = streams * length
        if evaluation:
            rows = torch.arange(rank, streams, world_size)
            filler = len(rows) == 0
            rows = torch.zeros(1, dtype=torch.long) if filler else rows
        else:
            rows, filler = torch.arange(rank * batch_size, (rank + 1) * batch_size), False
        self.inputs = ids[:used].view(streams, length)[rows].contiguous().long()
        self.targets = ids[1 : used + 1].view(streams, length)[rows].contiguous().long()
        if filler:
            self.targets.fill_(IGNORE_INDEX)
        self.seq_len = seq_len
        self.stream_length = length

    def __len__(self) -> int:
        return -(-self.stream_length // self.seq_len)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        window = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, window], self.targets[:, window]

    @property
    def num_tokens(self) -> int:
        """Tokens predicted per pass over this rank's streams."""
        return int((self.targets != IGNORE_INDEX).sum())


class ResumableWindows:
    """The training windows in order, resumable mid-epoch.

    Lightning stores a train loader's ``state_dict()`` in each checkpoint and calls
    ``load_state_dict`` on resume, so the next epoch pass starts at the first window not yet
    trained. ``windows_done`` reports windows trained so far this epoch (supplied by the trainer's
    progress counter: the loader itself runs one batch ahead because of prefetching).
    """

    def __init__(self, windows: StreamWindows, windows_done: Callable[[], int], pin_memory: bool = False):
        self.windows, self.windows_done, self.pin_memory = windows, windows_done, pin_memory
        self._start = 0

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start, self._start = self._start, 0
        for k in range(start, len(self.windows)):
            inputs, targets = self.windows[k]
            yield (inputs.pin_memory(), targets.pin_memory()) if self.pin_memory else (inputs, targets)

    def state_dict(self) -> dict[str, int]:
        return {"windows_done": int(self.windows_done())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._start = int(state.get("windows_done", 0)) % max(len(self.windows), 1)
