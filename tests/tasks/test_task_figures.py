"""What the tasks' validation figures show, read from the matplotlib objects: attention heatmaps over
the model's own output with the reference in the title and a colour bar; CTC posteriorgrams titled
with transcript and reference."""

from __future__ import annotations

import numpy as np
import torch

from seqlab.data import ParallelFiles, TransductionData, WordTokenizer
from seqlab.data.tokenizers.speech_alphabet import Alphabet
from seqlab.engine.task_data import TaskData, hand_data
from seqlab.nn import Seq2SeqConfig
from seqlab.tasks import TransductionTask
from seqlab.tasks.plots import MAX_FIGURE_INCHES, confusion_matrix_figure
from seqlab.tasks.speech import SpeechRecognitionTask


def _colour_bar_label(fig) -> str:
    (image,) = fig.axes[0].images
    assert image.colorbar is not None and len(fig.axes) == 2  # the heatmap and its colour bar
    return image.colorbar.ax.get_ylabel()


def test_attention_heatmap_rows_are_the_models_own_output(tiny_parallel):
    # Before: rows were the reference's tokens (teacher-forced), with no colour bar or reference shown.
    files = {k: [str(p) for p in v] for k, v in tiny_parallel.items()}
    data = TransductionData(
        ParallelFiles(files["train"], files["validation"]), WordTokenizer(), WordTokenizer()
    )
    task = TransductionTask(
        data.source_vocab_size, data.target_vocab_size, net=Seq2SeqConfig(embedding_size=8, hidden_size=16)
    )
    hand_data(task, data)
    task.eval()
    batch = data.collate(data.splits["validation"].items[:3])
    with torch.no_grad():
        outputs = task.decode_ids(batch["source"], batch["source_lengths"], beam_size=1)
    figures = task.heatmap_figures(batch, outputs, "val")
    assert len(figures) == 3
    for fig, ids, refs, source in zip(figures, outputs, batch["references"], batch["sources"], strict=True):
        ax = fig.axes[0]
        rows = [t.get_text() for t in ax.get_yticklabels()]
        # Greedy output fed back in: every row but the last is an output token, and where greedy stopped
        # before the length limit the last row is the end of sentence it predicted there.
        assert rows[:-1] == [data.detokenize([t]) for t in ids]
        if len(ids) < task.max_decode_length:
            assert rows[-1] == "</s>"
        assert ax.get_ylabel() == "model output"
        assert [t.get_text() for t in ax.get_xticklabels()] == source.split()
        title = ax.get_title()
        assert f"reference: {' | '.join(refs)!r}" in title and repr(data.detokenize(ids)) in title
        assert _colour_bar_label(fig) == "attention weight"


def test_posteriorgram_title_shows_output_and_reference():
    # Before: the title showed only the transcript, so a wrong one could not be told from a right one.
    task = SpeechRecognitionTask(vocab_size=5, num_features=6)
    task.data = TaskData(alphabet=Alphabet(list("abc ")))
    log_probs = torch.randn(12, 5).log_softmax(-1)
    fig = task.posteriorgram(log_probs, "ab", "utt-7", "abc", "val")
    ax = fig.axes[0]
    assert ax.get_title() == "val utterance utt-7, step 0: output 'ab'\nreference: 'abc'"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<b>", "a", "b", "c", "␣"]
    assert _colour_bar_label(fig) == "posterior"


def test_confusion_matrix_of_many_labels_stays_a_drawable_size():
    """CLINC150's 150 intents: the figure is capped at MAX_FIGURE_INCHES (it was 70 inches, ~17 s per
    validation to draw) with every label still a tick; a 3-label figure keeps its small size."""
    labels = [f"intent_{i}" for i in range(150)]
    fig = confusion_matrix_figure(np.eye(150, dtype=int), labels, "many")
    width, height = fig.get_size_inches()
    assert height == MAX_FIGURE_INCHES and width == MAX_FIGURE_INCHES + 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == labels
    assert tuple(confusion_matrix_figure(np.eye(3, dtype=int), ["a", "b", "c"], "few").get_size_inches()) == (
        5,
        4,
    )
