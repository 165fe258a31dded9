"""Plain PyTorch building blocks (no Lightning): recurrent stacks, models, decoding."""

from seqlab.nn.acoustic import AcousticConfig, AcousticEncoder, CTCModel
from seqlab.nn.attention import Attention
from seqlab.nn.char_encoder import CharWordEncoder
from seqlab.nn.classifier import ClassifierConfig, RecurrentClassifier
from seqlab.nn.crf import LinearChainCRF, scheme_constraints
from seqlab.nn.ctc import (
    CTCLossResult,
    ctc_beam_decode,
    ctc_greedy_decode,
    ctc_loss,
    ctc_min_frames,
    ctc_prefix_beam_search,
)
from seqlab.nn.embeddings import EmbeddingCoverage, PretrainedEmbeddings, init_embedding_from
from seqlab.nn.language_model import RecurrentLM, RecurrentLMConfig
from seqlab.nn.ngram import NgramConfig, NgramLM
from seqlab.nn.pooling import SequencePooling, lengths_to_mask
from seqlab.nn.recurrent import RecurrentStack, State, detach_state
from seqlab.nn.sampling import filter_logits, generate, sample_next
from seqlab.nn.search import (
    Hypothesis,
    StepDecoder,
    beam_search,
    gnmt_length_penalty,
    greedy_search,
    sample_search,
)
from seqlab.nn.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.nn.tagger import RecurrentTagger, TaggerConfig
from seqlab.nn.window_lm import FixedWindowLM, FixedWindowLMConfig
from seqlab.nn.word_list import WordListScorer

__all__ = [
    "AcousticConfig",
    "AcousticEncoder",
    "Attention",
    "CTCLossResult",
    "CTCModel",
    "CharWordEncoder",
    "ClassifierConfig",
    "EmbeddingCoverage",
    "FixedWindowLM",
    "FixedWindowLMConfig",
    "Hypothesis",
    "LinearChainCRF",
    "NgramConfig",
    "NgramLM",
    "PretrainedEmbeddings",
    "RecurrentClassifier",
    "RecurrentLM",
    "RecurrentLMConfig",
    "RecurrentStack",
    "RecurrentTagger",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequencePooling",
    "State",
    "StepDecoder",
    "TaggerConfig",
    "WordListScorer",
    "beam_search",
    "ctc_beam_decode",
    "ctc_greedy_decode",
    "ctc_loss",
    "ctc_min_frames",
    "ctc_prefix_beam_search",
    "detach_state",
    "filter_logits",
    "generate",
    "gnmt_length_penalty",
    "greedy_search",
    "init_embedding_from",
    "lengths_to_mask",
    "sample_next",
    "sample_search",
    "scheme_constraints",
]
