"""Where seqlab caches what it computes from data."""

import os


def default_cache_dir() -> str:
    """Where tokenizers and encoded corpora are cached (``$SEQLAB_CACHE`` or ``~/.cache/seqlab``)."""
    return os.environ.get("SEQLAB_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "seqlab"))
