"""Plain PyTorch building blocks (no Lightning): recurrent stacks, models, decoding."""

from seqlab.nn.embeddings import EmbeddingCoverage, PretrainedEmbeddings, init_embedding_from
from seqlab.nn.language_model import RecurrentLM
from seqlab.nn.ngram import NgramLM
from seqlab.nn.recurrent import RecurrentStack, State, detach_state
from seqlab.nn.sampling import filter_logits, generate, sample_next
from seqlab.nn.window_lm import FixedWindowLM

__all__ = [
    "EmbeddingCoverage",
    "FixedWindowLM",
    "NgramLM",
    "PretrainedEmbeddings",
    "RecurrentLM",
    "RecurrentStack",
    "State",
    "detach_state",
    "filter_logits",
    "generate",
    "init_embedding_from",
    "sample_next",
]
