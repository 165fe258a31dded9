"""Tokenizers: text <-> ids (characters, words, sentencepiece) and the speech alphabet."""
