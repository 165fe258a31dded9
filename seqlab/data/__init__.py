"""Data: readers, corpora, tokenizers, batching and DataModules."""

from seqlab.data.classification_data import (
    ClassificationData,
    ClassificationFiles,
    ClassificationSource,
    HubClassification,
    WordLanguages,
)
from seqlab.data.corpora import HubText, PythonStdlib, TextCorpus, TextFiles
from seqlab.data.embeddings import read_embedding_file
from seqlab.data.lm_datamodule import LanguageModelData
from seqlab.data.speech_data import SpeechDataModule
from seqlab.data.speech_sources import BuiltinSpeech, HubSpeech, SpeechManifests, SpeechSource
from seqlab.data.tagging_data import CmudictStress, TaggedFiles, TaggingData, TaggingSource
from seqlab.data.text_files import DataError
from seqlab.data.tokenizers import (
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    WordTokenizer,
    tokenizer_from_state,
)
from seqlab.data.transduction_data import (
    CmudictG2P,
    HubParallel,
    ParallelFiles,
    ParallelSource,
    TransductionData,
)

__all__ = [
    "BuiltinSpeech",
    "CharTokenizer",
    "ClassificationData",
    "ClassificationFiles",
    "ClassificationSource",
    "CmudictG2P",
    "CmudictStress",
    "DataError",
    "HubClassification",
    "HubParallel",
    "HubSpeech",
    "HubText",
    "LanguageModelData",
    "ParallelFiles",
    "ParallelSource",
    "PythonStdlib",
    "SentencePieceTokenizer",
    "SpeechDataModule",
    "SpeechManifests",
    "SpeechSource",
    "TaggedFiles",
    "TaggingData",
    "TaggingSource",
    "TextCorpus",
    "TextFiles",
    "Tokenizer",
    "TransductionData",
    "WordLanguages",
    "WordTokenizer",
    "read_embedding_file",
    "tokenizer_from_state",
]
