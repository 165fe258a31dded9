"""One LightningModule per canonical sequence problem, on a shared base."""

from seqlab.tasks.base import SeqTask
from seqlab.tasks.generation import GenerationTask

__all__ = ["GenerationTask", "SeqTask"]
