"""One LightningModule per canonical sequence problem, on a shared base."""

from seqlab.tasks.base import SeqTask
from seqlab.tasks.generation import GenerationTask
from seqlab.tasks.language_model import LanguageModelTask
from seqlab.tasks.ngram import NgramTask
from seqlab.tasks.window_lm import FixedWindowLMTask

__all__ = ["FixedWindowLMTask", "GenerationTask", "LanguageModelTask", "NgramTask", "SeqTask"]
