"""The environment variables a job gets from ``seqlab submit``, named by the user.

A Ray or Kubernetes job does not inherit the submitting shell, and copying chosen variables
silently (``WANDB_MODE=offline`` from a laptop into a cluster run) surprises; so a job gets what
``--env NAME=VALUE`` or ``--env NAME`` (this shell's value) names, and the submission prints it,
secrets masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from seqlab.cluster.secrets import mask_env, mask_secrets

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def for_job(specs: list[str], backend: str) -> dict[str, str]:
    """The environment of a ``seqlab submit BACKEND`` job (Ray and Kubernetes alike): what ``--env``
    names and nothing else; a bad spec ends the command with one line, secrets masked."""
    try:
        return from_specs(specs)
    except ValueError as err:
        raise SystemExit(mask_secrets(f"seqlab submit {backend}: {err}")) from None


def from_specs(specs: list[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``NAME=VALUE`` as given and ``NAME`` with this shell's value, in order (a later one wins)."""
    env = os.environ if environ is None else environ
    chosen: dict[str, str] = {}
    for spec in specs:
        name, eq, value = str(spec).partition("=")
        if not _NAME.match(name):
            raise ValueError(f"--env {spec!r}: expected NAME=VALUE or NAME (an environment variable)")
        if not eq:
            if name not in env:
                raise ValueError(f"--env {name}: {name} is not set in this shell; give --env {name}=VALUE")
            value = env[name]
        chosen[name] = value
    return chosen


def describe(env_vars: Mapping[str, str]) -> str:
    """One line saying what the job's environment gets, secret values as ``****``."""
    if not env_vars:
        return (
            "environment passed to the job: none (add --env NAME=VALUE, or --env NAME to copy it from here)"
        )
    shown = ", ".join(f"{k}={v}" for k, v in mask_env(env_vars).items())
    return f"environment passed to the job: {shown}"
