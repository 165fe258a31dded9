"""Figures that tasks log at the end of validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

MAX_FIGURE_INCHES = 20.0


def confusion_matrix_figure(matrix: np.ndarray, labels: Sequence[str], title: str) -> Figure:
    """Rows are true labels, columns predictions; cells show counts, colour shows the row share (recall),
    so rare classes are as readable as common ones."""
    counts = np.asarray(matrix)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    # At most 20 inches: CLINC150's 150 intents at 0.45 inch each made a 70-inch PNG that took ~17 s
    # to draw at every validation; past that the tick labels shrink instead.
    size = min(max(4.0, 0.45 * len(labels) + 2), MAX_FIGURE_INCHES)
    fontsize = min(10.0, 72 * 0.8 * (size - 2) / max(len(labels), 1))
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true label")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(len(labels)), labels, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    colour = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7, color=colour)
    return fig


def attention_figure(weights: np.ndarray, source: Sequence[str], output: Sequence[str], title: str) -> Figure:
    """An alignment heatmap: one row per output token (the model's own), one column per source token,
    with a colour bar of the attention weight."""
    fig = Figure(figsize=(max(3.5, 0.35 * len(source) + 2.5), max(2.5, 0.3 * len(output) + 1.4)))
    ax = fig.add_subplot()
    image = ax.imshow(np.asarray(weights), cmap="Greys", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    ax.set_xticks(range(len(source)), list(source), rotation=90, fontsize=8)
    ax.set_yticks(range(len(output)), list(output), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("model output")
    ax.set_title(title, fontsize=9)
    return fig


def posteriorgram_figure(probs: np.ndarray, labels: Sequence[str], title: str) -> Figure:
    """CTC posteriors of one utterance: one row per output label (blank first), one column per frame;
    a trained model shows short label spikes on a background of blank."""
    probs = np.asarray(probs)
    fig = Figure(figsize=(min(16.0, max(4.0, 0.05 * probs.shape[0] + 2)), max(2.5, 0.16 * len(labels) + 1.2)))
    ax = fig.add_subplot()
    image = ax.imshow(probs.T, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="posterior")
    ax.set_yticks(range(len(labels)), list(labels), fontsize=6)
    ax.set_xlabel("frame (after subsampling)")
    ax.set_ylabel("label")
    ax.set_title(title, fontsize=9)
    return fig
