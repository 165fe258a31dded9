"""The error a model's constructor raises for a setting it cannot build (``seqlab`` shows its message
as ``seqlab: error: ...`` instead of a traceback; it is a ValueError for code that builds models), and
the check of a setting that is a share."""

from __future__ import annotations


class NetSettingError(ValueError):
    """An architecture setting, or a combination of them, that no model can be built with."""


def checked_share(value: float, key: str) -> float:
    """``value`` if it is a share in [0, 1) (a dropout or smoothing rate); otherwise a NetSettingError
    naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise NetSettingError(f"{key}: expected a share in [0, 1), got {value!r}")
    return float(value)
