"""The word-list bias of CTC prefix beam search, and word-list files."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.data.errors import DataError
from seqlab.data.formats.word_lists import read_word_list
from seqlab.nn.ctc import ctc_greedy_decode, ctc_prefix_beam_search
from seqlab.nn.word_list import NO_SEPARATOR, WordListScorer

SYMBOLS = ["a", "c", "o", "t", " "]  # ids 1..5, 0 is the blank
IDS = {s: i + 1 for i, s in enumerate(SYMBOLS)}


def encode(text: str) -> list[int]:
    return [IDS[c] for c in text]


def decode(ids: list[int]) -> str:
    return "".join(SYMBOLS[i - 1] for i in ids)


def posteriors(rows: list[dict[str, float]]) -> torch.Tensor:
    """[T, V] log-probabilities; each row gives some symbols' probabilities, the rest to the blank."""
    out = torch.zeros(len(rows), len(SYMBOLS) + 1)
    for t, row in enumerate(rows):
        for symbol, p in row.items():
            out[t, IDS[symbol]] = p
        out[t, 0] = 1.0 - sum(row.values())
    return out.clamp_min(1e-9).log()


def test_scorer_penalises_leaving_the_list_and_unfinished_words():
    scorer = WordListScorer(["cat", "at"], encode, IDS[" "], penalty=-5.0)
    assert scorer((), IDS["c"]) == 0.0
    assert scorer(tuple(encode("ca")), IDS["t"]) == 0.0
    assert scorer(tuple(encode("ca")), IDS["o"]) == -5.0  # "cao" starts no word
    assert scorer(tuple(encode("cat")), IDS[" "]) == 0.0
    assert scorer(tuple(encode("ca")), IDS[" "]) == -5.0  # "ca" is not a word
    assert scorer(tuple(encode("cat ")), IDS["a"]) == 0.0  # a new word starts after the space
    assert scorer.final(tuple(encode("cat at"))) == 0.0
    assert scorer.final(tuple(encode("cat a"))) == -5.0


def test_word_list_turns_a_near_miss_into_the_listed_word():
    """Frames say c, then o slightly over a, then t: greedy and plain beam read "cot"; with "cat" in
    the list and "cot" not, the biased beam reads "cat"."""
    log_probs = posteriors([{"c": 0.9}, {"o": 0.5, "a": 0.45}, {"t": 0.9}])
    assert decode(ctc_greedy_decode(log_probs[None])[0]) == "cot"
    assert decode(ctc_prefix_beam_search(log_probs, beam_size=8)[0][0]) == "cot"
    scorer = WordListScorer(["cat", "tot"], encode, IDS[" "], penalty=-4.0)
    (labels, score), *_ = ctc_prefix_beam_search(log_probs, beam_size=8, scorer=scorer)
    assert decode(labels) == "cat"
    assert score == pytest.approx(math.log(0.9 * 0.45 * 0.9), abs=1e-3)  # no penalty on a listed word
    forbid = WordListScorer(["tot"], encode, IDS[" "], penalty=-math.inf)
    found = ctc_prefix_beam_search(log_probs, beam_size=8, n_best=8, scorer=forbid)
    assert all(decode(labels).split() in ([], ["tot"]) or s == -math.inf for labels, s in found)
    assert decode(found[0][0]) == ""  # nothing listed fits: silence beats any forbidden word


def test_word_list_files(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("# my words\ncat\n\n dog \n", encoding="utf-8")
    assert read_word_list(str(path)) == ["cat", "dog"]
    assert len(read_word_list("wordfreq:en:1000")) == 1000
    with pytest.raises(DataError, match="no such word list"):
        read_word_list(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match=r"empty\.txt: the word list is empty"):
        read_word_list(str(tmp_path / "empty.txt"))
    with pytest.raises(DataError, match="expected wordfreq:<language>:<number of words>"):
        read_word_list("wordfreq:en")


def test_an_alphabet_without_a_space_treats_the_transcript_as_one_word():
    """FSDD's transcripts are single words, so its alphabet has no space: with NO_SEPARATOR the whole
    prefix is the word being spelt, and "cot" still becomes the listed "cat"."""
    scorer = WordListScorer(["cat"], encode, NO_SEPARATOR, penalty=-5.0)
    assert scorer(tuple(encode("ca")), IDS["t"]) == 0.0 and scorer(tuple(encode("ca")), IDS["o"]) == -5.0
    assert scorer.final(tuple(encode("cat"))) == 0.0 and scorer.final(tuple(encode("ca"))) == -5.0
    log_probs = posteriors([{"c": 0.9}, {"o": 0.5, "a": 0.45}, {"t": 0.9}])
    (labels, _), *_ = ctc_prefix_beam_search(log_probs, beam_size=8, scorer=scorer)
    assert decode(labels) == "cat"


@pytest.mark.parametrize("kind", ["words", "phonemes"])
def test_a_word_list_needs_character_targets(kind):
    """A word list spells words in letters: with whole-word or phoneme outputs it is refused by name
    (a word model can only emit its own words already)."""
    from seqlab.data.tokenizers.speech_alphabet import Alphabet
    from seqlab.engine.errors import SettingError
    from seqlab.tasks import SpeechRecognitionTask

    task = SpeechRecognitionTask(vocab_size=4, num_features=8, eval_beam_size=4, word_list="digits.txt")
    with pytest.raises(
        SettingError, match=f"model.word_list 'digits.txt': expected character targets.*not {kind}"
    ):
        task.word_list_scorer(Alphabet(["one", "two", "zero"], kind))
