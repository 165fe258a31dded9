"""One LightningModule per canonical sequence problem, on a shared base."""

from seqlab.tasks.base import SeqTask
from seqlab.tasks.generation import GenerationTask
from seqlab.tasks.language_model import LanguageModelTask

__all__ = ["GenerationTask", "LanguageModelTask", "SeqTask"]
