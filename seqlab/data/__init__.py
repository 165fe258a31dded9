"""Data: readers, corpora, tokenizers, batching and DataModules."""

from seqlab.data.corpora import HubText, PythonStdlib, TextCorpus, TextFiles
from seqlab.data.embeddings import read_embedding_file
from seqlab.data.lm_datamodule import LanguageModelData
from seqlab.data.text_files import DataError
from seqlab.data.tokenizers import CharTokenizer, SentencePieceTokenizer, Tokenizer, tokenizer_from_state

__all__ = [
    "CharTokenizer",
    "DataError",
    "HubText",
    "LanguageModelData",
    "PythonStdlib",
    "SentencePieceTokenizer",
    "TextCorpus",
    "TextFiles",
    "Tokenizer",
    "read_embedding_file",
    "tokenizer_from_state",
]
