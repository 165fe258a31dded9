"""What a run's loggers are told (which kind, W&B's settings), apart from the loggers themselves:
``run_dir.RunSettings`` holds them and is read by verbs that never start Lightning (``seqlab runs``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LoggerKind = Literal["wandb", "tensorboard", "csv"]


@dataclass
class WandbSettings:
    """Weights & Biases settings. ``offline`` needs no account; ``wandb sync <run dir>/wandb`` uploads later.

    Args:
        mode: ``offline``, ``online`` or ``disabled``.
        project: W&B project.
        entity: W&B team or user (``None``: your default).
        group: group runs together (sweeps use this).
        tags: free-form tags.
        log_model: log checkpoints as W&B artifacts: ``True`` (the best and last at the end), ``"all"``
            (every one as it is written) or ``False``.
        log_tokenizer: log the run's fitted tokenizers/vocabularies as a W&B artifact at the end
            (sentencepiece models as ``.model`` files, the others as JSON).
    """

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "seqlab"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    log_model: bool | Literal["all"] = False
    log_tokenizer: bool = False
