"""``seqlab report``: PNG learning curves of one or more runs from their ``metrics.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure  # a bare Figure draws without a GUI backend

from seqlab.reporting.metrics_file import read_metrics

# Panels: title -> metric names drawn on it (loss panels pair training with validation).
FIXED_PANELS = {
    "loss": ("train/loss", "val/loss"),
    "learning rate": ("lr",),
    "gradient norm (before clipping)": ("train/grad_norm",),
    "throughput (tokens/s)": ("train/tokens_per_sec",),
}


def panels(metric_names: set[str]) -> dict[str, tuple[str, ...]]:
    """The fixed panels that have data, then one panel per other validation metric."""
    chosen = {t: tuple(m for m in ms if m in metric_names) for t, ms in FIXED_PANELS.items()}
    chosen = {t: ms for t, ms in chosen.items() if ms}
    used = {m for ms in chosen.values() for m in ms}
    for name in sorted(metric_names - used):
        if name.startswith("val/"):
            chosen[name] = (name,)
    return chosen


def _filename(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.split(" (")[0]).strip("_") + ".png"


def write_report(run_dirs: Sequence[Path], output: Path) -> list[Path]:
    """One PNG per panel in ``output``, every run a line (labelled by its directory)."""
    series = {run: read_metrics(run) for run in run_dirs}
    names = {name for metrics in series.values() for name in metrics}
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for title, metric_names in panels(names).items():
        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.add_subplot()
        for run, metrics in series.items():
            for name in metric_names:
                points = metrics.get(name)
                if not points:
                    continue
                label = " ".join(x for x in (run.name if len(series) > 1 else "", name) if x)
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o" if name.startswith("val/") else None, ms=3, label=label)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if title in ("loss", "learning rate") and all(v > 0 for line in ax.lines for v in line.get_ydata()):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        path = output / _filename(title)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    return written
