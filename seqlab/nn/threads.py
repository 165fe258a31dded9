"""Running a stretch of small tensor operations on one intra-op thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run on one intra-op thread, then restore the count. For long chains of tiny operations (a
    search's B x K x labels tensors, one time step of a small model), where a second thread only adds a
    hand-off per operation: on a busy 2-core CPU the CTC prefix search was 3x slower with 2 threads,
    and the char_lstm gradient diagnosis 15x slower (16 s instead of 1.1 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
