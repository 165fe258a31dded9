"""seqlab: a training platform for recurrent sequence models on PyTorch Lightning."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"


def lazy_exports(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A PEP 562 module ``__getattr__`` for ``package``: ``package.Name`` imports ``homes[Name]`` (the
    module that defines it) on first use, so ``seqlab.data.TextFiles`` stays a class path and
    ``from seqlab.data import X`` works, while importing the package itself loads nothing heavy
    (``seqlab runs --help`` needs ``seqlab.data.errors``, not torch)."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(homes[name]), name)
        setattr(importlib.import_module(package), name, value)  # the next lookup finds it directly
        return value

    return __getattr__


def load_all(package: str) -> None:
    """Import every name ``package`` exports (its ``__all__``): what ``seqlab fit --help`` lists and
    what a config may name by its short class name are the classes already imported."""
    module = importlib.import_module(package)
    for name in module.__all__:
        getattr(module, name)
