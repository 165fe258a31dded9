"""A CTC speech recognizer's graph: feature frames and their counts in, float32 log-probabilities and
the output frame counts out; the search (greedy or prefix beam, with a word list) stays on the host."""

from __future__ import annotations

import torch

from seqlab.inference.export.bundle import Graph
from seqlab.tasks.speech import SpeechRecognitionTask

# The fewest frames a batch is given to the graph (shorter batches are padded with silence frames,
# which their lengths leave out): subsampling by shape arithmetic traces for several output frames only.
MIN_FRAMES = 32


def ctc_graphs(task: SpeechRecognitionTask) -> list[Graph]:
    """``(features [B, T, F], lengths [B]) -> (log_probs [B, T', V], output_lengths [B])``: the
    :class:`~seqlab.nn.acoustic.CTCModel` itself, traced on utterances of unlike lengths."""
    num_features = int(task.hparams["num_features"])
    lengths = torch.tensor([47, 9, 36])
    features = torch.randn(3, 47, num_features, generator=torch.Generator().manual_seed(0))
    features = features * (torch.arange(47)[None, :, None] < lengths[:, None, None])
    frames = torch.export.Dim("frames", min=MIN_FRAMES)
    dynamic = {"features": {0: "batch", 1: frames}, "lengths": {0: "batch"}}
    return [
        Graph(
            "ctc",
            task.model,
            (features, lengths),
            ("features", "lengths"),
            ("log_probs", "output_lengths"),
            dynamic,
        )
    ]
