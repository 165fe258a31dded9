"""``seqlab report``: PNG learning curves of one or more runs from their ``metrics.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure  # a bare Figure draws without a GUI backend
from matplotlib.ticker import LogFormatter, MaxNLocator

from seqlab.reporting.metrics_file import read_metrics

# Panels: title -> metric names drawn on it (loss panels pair training with validation).
FIXED_PANELS = {
    "loss": ("train/loss", "val/loss"),
    "learning rate": ("lr",),
    "gradient norm (before clipping)": ("train/grad_norm",),
    "throughput (tokens/s)": ("train/tokens_per_sec",),
}
Y_LABELS = {
    "loss": "cross-entropy (nats/token)",
    "learning rate": "learning rate",
    "gradient norm (before clipping)": "global gradient norm",
    "throughput (tokens/s)": "tokens/s",
}
FEW_POINTS = 30  # series this short get a marker at every point (a one-point series is a dot)


class PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers (``0.002``, ``3``), not mathtext powers of ten; which
    ticks get a label is still matplotlib's choice (minor ticks only on short ranges)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def panels(metric_names: set[str]) -> dict[str, tuple[str, ...]]:
    """The fixed panels that have data, then one panel per other validation metric."""
    chosen = {t: tuple(m for m in ms if m in metric_names) for t, ms in FIXED_PANELS.items()}
    chosen = {t: ms for t, ms in chosen.items() if ms}
    used = {m for ms in chosen.values() for m in ms}
    for name in sorted(metric_names - used):
        if name.startswith("val/"):
            chosen[name] = (name,)
    return chosen


def run_labels(run_dirs: Sequence[Path]) -> dict[Path, str]:
    """``name/version_N`` for each run (the full path where two runs would share that label)."""
    labels = {run: "/".join(run.parts[-2:]) for run in run_dirs}
    if len(set(labels.values())) < len(labels):
        return {run: str(run) for run in run_dirs}
    return labels


def _filename(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.split(" (")[0]).strip("_") + ".png"


def _style_axes(ax: Axes, title: str, metric_names: tuple[str, ...]) -> None:
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_ylabel(Y_LABELS.get(title, metric_names[0]))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if title in ("loss", "learning rate") and all(v > 0 for line in ax.lines for v in line.get_ydata()):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(PlainLogFormatter())
        ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax.legend(fontsize=8)


def report_figures(run_dirs: Sequence[Path]) -> dict[str, Figure]:
    """Panel title -> its figure, every run's series a line labelled ``name/version_N [metric]``."""
    series = {run: read_metrics(run) for run in run_dirs}
    labels = run_labels(run_dirs)
    names = {name for metrics in series.values() for name in metrics}
    figures = {}
    for title, metric_names in panels(names).items():
        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.add_subplot()
        for run, metrics in series.items():
            for name in metric_names:
                points = metrics.get(name)
                if not points:
                    continue
                parts = [labels[run]] if len(series) > 1 else []
                parts += [name] if name != title or len(series) == 1 else []  # val/x panels: title
                steps, values = zip(*points, strict=True)
                marked = name.startswith("val/") or len(points) <= FEW_POINTS
                ax.plot(steps, values, marker="o" if marked else None, ms=3, label=" ".join(parts))
        _style_axes(ax, title, metric_names)
        figures[title] = fig
    return figures


def write_report(run_dirs: Sequence[Path], output: Path) -> list[Path]:
    """One PNG per panel in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for title, fig in report_figures(run_dirs).items():
        path = output / _filename(title)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        written.append(path)
    return written
