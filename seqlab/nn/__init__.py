"""Plain PyTorch building blocks (no Lightning): recurrent stacks, models, decoding.

Each name is imported from its module on first use (PEP 562), so importing one module of the package
(``seqlab.nn.search``) does not import every model."""

from __future__ import annotations

from seqlab import lazy_exports

# name -> the module that defines it
_HOMES = {
    "AcousticConfig": "seqlab.nn.acoustic",
    "AcousticEncoder": "seqlab.nn.acoustic",
    "CTCModel": "seqlab.nn.acoustic",
    "Attention": "seqlab.nn.attention",
    "CharWordEncoder": "seqlab.nn.char_encoder",
    "ClassifierConfig": "seqlab.nn.classifier",
    "RecurrentClassifier": "seqlab.nn.classifier",
    "LinearChainCRF": "seqlab.nn.crf",
    "scheme_constraints": "seqlab.nn.crf",
    "CTCLossResult": "seqlab.nn.ctc",
    "ctc_beam_decode": "seqlab.nn.ctc",
    "ctc_greedy_decode": "seqlab.nn.ctc",
    "ctc_loss": "seqlab.nn.ctc",
    "ctc_min_frames": "seqlab.nn.ctc",
    "ctc_prefix_beam_search": "seqlab.nn.ctc",
    "EmbeddingCoverage": "seqlab.nn.embeddings",
    "PretrainedEmbeddings": "seqlab.nn.embeddings",
    "init_embedding_from": "seqlab.nn.embeddings",
    "RecurrentLM": "seqlab.nn.language_model",
    "RecurrentLMConfig": "seqlab.nn.language_model",
    "NgramConfig": "seqlab.nn.ngram",
    "NgramLM": "seqlab.nn.ngram",
    "SequencePooling": "seqlab.nn.pooling",
    "lengths_to_mask": "seqlab.nn.pooling",
    "RecurrentStack": "seqlab.nn.recurrent",
    "State": "seqlab.nn.recurrent",
    "detach_state": "seqlab.nn.recurrent",
    "filter_logits": "seqlab.nn.sampling",
    "generate": "seqlab.nn.sampling",
    "sample_next": "seqlab.nn.sampling",
    "Hypothesis": "seqlab.nn.search",
    "StepDecoder": "seqlab.nn.search",
    "beam_search": "seqlab.nn.search",
    "gnmt_length_penalty": "seqlab.nn.search",
    "greedy_search": "seqlab.nn.search",
    "sample_search": "seqlab.nn.search",
    "Seq2Seq": "seqlab.nn.seq2seq",
    "Seq2SeqConfig": "seqlab.nn.seq2seq",
    "RecurrentTagger": "seqlab.nn.tagger",
    "TaggerConfig": "seqlab.nn.tagger",
    "FixedWindowLM": "seqlab.nn.window_lm",
    "FixedWindowLMConfig": "seqlab.nn.window_lm",
    "WordListScorer": "seqlab.nn.word_list",
}

__getattr__ = lazy_exports(__name__, _HOMES)
__all__ = sorted(_HOMES)
