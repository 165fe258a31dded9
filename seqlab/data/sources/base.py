"""What every source of supervised examples is: named splits of examples, read when ``load`` is called
(a DataModule calls it once, in its ``__init__``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

E = TypeVar("E")


class ExampleSource(ABC, Generic[E]):
    """Examples split into ``train`` and ``validation`` (and ``test`` where available)."""

    @abstractmethod
    def load(self) -> dict[str, list[E]]: ...
