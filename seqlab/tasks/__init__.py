"""One LightningModule per canonical sequence problem, on a shared base.

Unlike ``seqlab.data`` and ``seqlab.nn``, importing this package imports every task, and every class
that ``seqlab.data`` exports: a config may name a task, DataModule, source or tokenizer by its short
class name, and ``seqlab fit --help`` lists the subclasses, only of classes already imported. Whatever
trains (``seqlab fit``, a sweep's trial, a Ray Train worker) imports this package first; nothing here is
needed before a verb's arguments are parsed.
"""

from seqlab import load_all
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

load_all("seqlab.data")
