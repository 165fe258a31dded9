"""The error a model's constructor raises for a setting it cannot build (``seqlab`` shows its message
as ``seqlab: error: ...`` instead of a traceback; it is a ValueError for code that builds models), and
the checks of settings that are a share or a count."""

from __future__ import annotations


class NetSettingError(ValueError):
    """An architecture setting, or a combination of them, that no model can be built with."""


def checked_share(value: float, key: str) -> float:
    """``value`` if it is a share in [0, 1) (a dropout or smoothing rate); otherwise a NetSettingError
    naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise NetSettingError(f"{key}: expected a share in [0, 1), got {value!r}")
    return float(value)


def checked_count(value: int | None, key: str, minimum: int = 1) -> int | None:
    """``value`` if it is a whole number of at least ``minimum`` (a beam width, a length), or None;
    otherwise a NetSettingError naming ``key`` (a search would fail on it mid-validation, or a beam
    of 0 would quietly run greedy)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise NetSettingError(f"{key}: expected a whole number >= {minimum}, got {value!r}")
    return value


def checked_positive(value: float | None, key: str) -> float | None:
    """``value`` if it is a number above 0, or None; otherwise a NetSettingError naming ``key``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise NetSettingError(f"{key}: expected a number above 0, got {value!r}")
    return float(value)
