"""File systems that refuse writes, for the tests: permission bits that apply to root too, and a small
tmpfs that fills up."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def permission_bits_apply() -> Iterator[None]:
    """Make this thread subject to permission bits. Root ignores them (CAP_DAC_OVERRIDE), so as root
    that capability is taken out of this thread's effective set for the block and put back after."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    data = (Data * 2)()
    if libc.capget(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        pytest.skip(f"root, and capget failed (errno {ctypes.get_errno()}): cannot test permission bits")
    saved = data[0].effective
    data[0].effective &= ~(1 << 1)  # CAP_DAC_OVERRIDE
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        pytest.skip(f"root, and capset failed (errno {ctypes.get_errno()}): cannot test permission bits")
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(Header(0x20080522, 0)), data) == 0


@contextlib.contextmanager
def small_file_system(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` for the block (root, as on the CI machines)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): a full disk cannot be made")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
