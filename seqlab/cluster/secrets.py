"""Secrets kept out of what ``seqlab submit`` and ``seqlab jobs`` print or write.

A dry run is shown on screens and pasted into tickets, and job scripts, ``job.json`` and manifests sit
in shared run directories; none of them may hold an API key in clear text. A secret is the value of an
environment variable whose name contains KEY, TOKEN, SECRET or PASSWORD (``WANDB_API_KEY``,
``HF_TOKEN``, ...). The real submission may still hand it to the job's environment (Ray's
``runtime_env``; sbatch passes the submitting shell's environment on).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MASK = "****"
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
# Shorter values ("1", "true") are too likely to occur by chance to be replaced wherever they appear.
_MIN_VALUE_LENGTH = 6
# NAME=value, NAME: value, "NAME": "value" with an environment-style (upper-case) name.
_ASSIGNMENT = re.compile(
    r"""(?P<name>\b[A-Z][A-Z0-9_]*)(?P<sep>["']?\s*[=:]\s*["']?)(?P<value>[^\s"',;}\]\\]+)"""
)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret (``WANDB_API_KEY`` always does)."""
    upper = name.upper()
    return upper == "WANDB_API_KEY" or any(word in upper for word in SECRET_WORDS)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret environment variables, longest first (a value containing another is
    masked whole)."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_VALUE_LENGTH}
    return sorted(values, key=len, reverse=True)


def mask_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret replaced by ``****``: the values of secret environment variables
    wherever they occur, and the value of any ``SECRET_NAME=value`` (or ``: value``) assignment; a
    reference such as ``$WANDB_API_KEY`` is kept, it holds no secret."""
    for value in secret_values(environ):
        text = text.replace(value, MASK)

    def assignment(match: re.Match[str]) -> str:
        value = match["value"]
        if not is_secret_name(match["name"]) or value.startswith("$") or value == MASK:
            return match[0]
        return f"{match['name']}{match['sep']}{MASK}"

    return _ASSIGNMENT.sub(assignment, text)


def mask_env(env_vars: Mapping[str, str]) -> dict[str, str]:
    """Environment variables for display: the secret ones' values replaced by ``****``."""
    return {k: MASK if is_secret_name(k) else mask_secrets(v) for k, v in env_vars.items()}


def refuse_secrets(text: str, what: str, instead: str) -> None:
    """Refuse to write ``what`` (a job script, a manifest) when it would hold a secret in clear text."""
    if mask_secrets(text) != text:
        raise SystemExit(
            f"seqlab submit: {what} would hold a secret (an API key, token or password) in clear text; "
            f"{instead}"
        )
