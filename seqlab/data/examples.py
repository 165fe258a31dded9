"""The records that data readers produce for classification, labelling and transduction.

``where`` names the origin of a record ("train.tsv:12") so that a later error (an unseen label, an
empty text) can point at the line a user has to fix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextExample:
    """One text and its label (``None`` when the input is unlabelled, as in ``seqlab predict``)."""

    text: str
    label: str | None
    where: str = ""


@dataclass
class LabelledSentence:
    """One sentence as tokens with one tag each (``tags`` is ``None`` for untagged input).

    ``source`` keeps the sentence's original lines and ``token_rows[i]`` the index in ``source`` of
    token ``i``'s line, so a writer can put predicted tags back into the file's own format
    (CoNLL-U comments, multiword-token ranges and empty nodes survive untouched).
    """

    tokens: list[str]
    tags: list[str] | None
    where: str = ""
    source: list[str] | None = None
    token_rows: list[int] | None = None


@dataclass
class ParallelExample:
    """One source text and its reference targets (one or more) for sequence-to-sequence tasks.

    Several targets are alternatives (the pronunciations of a word, the translations of a sentence):
    training uses each as its own (source, target) pair, evaluation scores against the closest one.
    """

    source: str
    targets: list[str]
    where: str = ""
