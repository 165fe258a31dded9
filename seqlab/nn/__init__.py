"""Plain PyTorch building blocks (no Lightning): recurrent stacks, models, decoding."""

from seqlab.nn.language_model import RecurrentLM
from seqlab.nn.recurrent import RecurrentStack, State, detach_state
from seqlab.nn.sampling import filter_logits, generate, sample_next

__all__ = [
    "RecurrentLM",
    "RecurrentStack",
    "State",
    "detach_state",
    "filter_logits",
    "generate",
    "sample_next",
]
