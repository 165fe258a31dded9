"""One LightningModule per canonical sequence problem, on a shared base."""

from seqlab.tasks.base import SeqTask
from seqlab.tasks.classification import ClassificationTask
from seqlab.tasks.generation import GenerationTask
from seqlab.tasks.labelling import LabellingTask
from seqlab.tasks.language_model import LanguageModelTask
from seqlab.tasks.ngram import NgramTask
from seqlab.tasks.speech import SpeechRecognitionTask
from seqlab.tasks.transduction import TransductionTask
from seqlab.tasks.window_lm import FixedWindowLMTask

__all__ = [
    "ClassificationTask",
    "FixedWindowLMTask",
    "GenerationTask",
    "LabellingTask",
    "LanguageModelTask",
    "NgramTask",
    "SeqTask",
    "SpeechRecognitionTask",
    "TransductionTask",
]
