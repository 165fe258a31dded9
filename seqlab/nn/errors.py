"""The error a model's constructor raises for a setting it cannot build (``seqlab`` shows its message
as ``seqlab: error: ...`` instead of a traceback; it is a ValueError for code that builds models)."""

from __future__ import annotations


class NetSettingError(ValueError):
    """An architecture setting, or a combination of them, that no model can be built with."""
