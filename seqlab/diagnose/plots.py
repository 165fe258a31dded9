"""The diagnostics' figures, written as PNG files.

Figures are built on ``matplotlib.figure.Figure`` directly, not pyplot: they render with the Agg
canvas (no display needed), and the backend of a notebook or script that imports this is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from seqlab.diagnose.history import GradHistory


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_gradient_norms(curves: Mapping[str, Sequence[float]], title: str, path: Path) -> Path:
    """||d loss_T / d h_t|| against the distance T-1-t, log y (exponential decay is a straight line)."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for label, norms in curves.items():
        # An exact zero (underflow) has no place on a log axis: leave a gap rather than a fake value.
        ax.plot(range(len(norms)), [float(n) if n > 0 else float("nan") for n in norms], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance T-1-t (steps back from the loss)")
    ax.set_ylabel("mean ||d loss_T / d h_t||")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_accuracy_vs_length(
    table: Mapping[str, Sequence[float]], lengths: Sequence[int], chance: float, title: str, path: Path
) -> Path:
    """Held-out accuracy against sequence length T, one line per cell, with chance dashed."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for cell, accuracies in table.items():
        ax.plot(lengths, accuracies, marker="o", label=cell)
    ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.3g})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(lengths), [str(t) for t in lengths])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("sequence length T (label = first token)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")  # the lines start at the top left
    return _save(fig, path)


def plot_grad_history(histories: Sequence[GradHistory], path: Path) -> Path:
    """Pre-clipping gradient norm during training, log y; each run's clipping threshold dashed."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for history in histories:
        (line,) = ax.plot(history.steps, history.norms, label=history.label, linewidth=1)
        if history.clip is not None:
            ax.axhline(history.clip, color=line.get_color(), linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("global gradient norm before clipping")
    ax.set_title("train/grad_norm (dashed: clipping threshold)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _save(fig, path)
