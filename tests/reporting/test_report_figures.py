"""What ``seqlab report``'s figures show, read from the matplotlib objects: run labels, markers, plain
log-axis ticks and a y-axis label on every panel."""

from __future__ import annotations

from pathlib import Path

from seqlab.reporting.learning_curves import report_figures


def _run(path: Path, rows: list[str]) -> Path:
    """A run directory whose ``metrics.csv`` is in Lightning's CSV logger format (sparse columns)."""
    path.mkdir(parents=True)
    header = "epoch,step,lr,train/loss,val/loss,val/bpc"
    (path / "metrics.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _two_runs(tmp_path: Path) -> list[Path]:
    train = [f"0,{s},0.002,{4.4 - 0.05 * s},," for s in range(1, 40)]
    first = _run(tmp_path / "runs/char_lstm/version_0", [*train, "0,39,,,2.9,4.1", "0,79,,,2.5,3.6"])
    # One logged training step and one validation: single points, which a line without markers hides.
    other = _run(tmp_path / "runs/other/version_0", ["0,9,0.002,4.0,,", "0,9,,,3.0,4.3"])
    return [first, other]


def test_curves_are_labelled_by_run_name_and_version(tmp_path):
    # Before: both runs read "version_0 val/bpc".
    figures = report_figures(_two_runs(tmp_path))
    bpc = [line.get_label() for line in figures["val/bpc"].axes[0].lines]
    assert bpc == ["char_lstm/version_0", "other/version_0"]
    loss = {line.get_label() for line in figures["loss"].axes[0].lines}
    assert "other/version_0 val/loss" in loss and "char_lstm/version_0 train/loss" in loss


def test_a_loss_panel_of_validation_only_names_the_metric(tmp_path):
    # Runs shorter than log_every_n_steps have no train/loss: the loss panel still says which loss.
    runs = [_run(tmp_path / f"runs/{n}/version_0", ["0,2,,,4.2,6.0", "0,5,,,4.1,5.9"]) for n in "ab"]
    figures = report_figures(runs)
    assert [line.get_label() for line in figures["loss"].axes[0].lines] == [
        "a/version_0 val/loss",
        "b/version_0 val/loss",
    ]
    assert [line.get_label() for line in figures["val/bpc"].axes[0].lines] == ["a/version_0", "b/version_0"]
    figures["loss"].draw_without_rendering()
    steps = [t.get_text() for t in figures["loss"].axes[0].get_xticklabels() if t.get_text()]
    assert all(text.lstrip("−-").isdigit() for text in steps), steps  # whole steps, no 2.5


def test_one_point_series_has_a_marker(tmp_path):
    # Before: only val/ series had markers, so a run's one logged training loss was invisible.
    lines = {line.get_label(): line for line in report_figures(_two_runs(tmp_path))["loss"].axes[0].lines}
    single = lines["other/version_0 train/loss"]
    assert len(single.get_xdata()) == 1 and single.get_marker() == "o"
    assert lines["other/version_0 val/loss"].get_marker() == "o"
    assert lines["char_lstm/version_0 train/loss"].get_marker() == "None"  # 39 points: a plain line


def test_every_panel_has_a_y_label_and_log_ticks_are_plain_numbers(tmp_path):
    # Before: only x labels, and log axes labelled 3x10^0 in mathtext.
    figures = report_figures(_two_runs(tmp_path))
    assert set(figures) == {"loss", "learning rate", "val/bpc"}
    for title, fig in figures.items():
        ax = fig.axes[0]
        assert ax.get_ylabel(), title
        fig.draw_without_rendering()  # tick labels are only set when drawn
        labels = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
        assert labels, title
        for text in labels:
            float(text)  # a plain number, no "$10^{0}$"
    assert figures["loss"].axes[0].get_yscale() == "log"
