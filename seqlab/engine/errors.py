"""Errors whose message is meant for the user: ``seqlab`` prints them as ``seqlab: error: MESSAGE`` and
exits non-zero instead of showing a traceback (see ``seqlab.engine.user_errors``)."""

from __future__ import annotations


class UserError(Exception):
    """Not a bug in seqlab: a setting or the training itself went wrong, and the message says what
    to change."""


class SettingError(UserError, ValueError):
    """A setting's value is out of range (``--run.checkpoint_every_n_steps 0``)."""


class TrainingDiverged(UserError, RuntimeError):
    """Too many consecutive optimizer steps had a non-finite loss or gradient norm."""
