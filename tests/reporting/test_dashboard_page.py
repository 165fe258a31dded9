"""`seqlab dashboard` on hand-made run directories: what the page says (config differences, final and
best metrics, latest media, relative checkpoint links, `wandb sync`), that text from runs is escaped,
that partial runs become notes, and which files it refuses to replace. The browser test
(test_dashboard.py) checks real runs as Chromium draws them."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from seqlab.cli import main
from seqlab.reporting.dashboard_html import GENERATOR
from seqlab.reporting.run_view import flatten

EVIL = "<script>alert('x')</script>"


def _config(hidden: int, name: str) -> str:
    return (
        f"seed_everything: 1\nrun:\n  name: {json.dumps(name)}\n"
        "model:\n  class_path: seqlab.tasks.GenerationTask\n  init_args:\n"
        f"    net:\n      hidden_size: {hidden}\n      cell: lstm\n"
        "    optimizer:\n      class_path: torch.optim.AdamW\n      init_args:\n        lr: 0.003\n"
    )


def _png(path: Path) -> None:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().imshow([[0, 1], [1, 0]])
    fig.savefig(path, format="png")


def _finished_run(root: Path) -> Path:
    """A finished run with metrics, media at two steps, checkpoints and an offline W&B record."""
    run = root / "lm" / "version_0"
    (run / "media").mkdir(parents=True)
    (run / "config.yaml").write_text(_config(32, EVIL), encoding="utf-8")
    rows = [
        "epoch,step,train/loss,val/loss,val/acc",
        "0,1,4.0,,",
        "0,2,3.0,,",
        "0,2,,2.5,0.4",
        "0,4,,2.7,0.6",
    ]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (run / "status.json").write_text(
        json.dumps({"state": "finished", "task": "seqlab.tasks.GenerationTask", "step": 4,
                    "updated": "2026-12-06T10:00:00", "monitor": "val/loss", "mode": "min"})
    )  # fmt: skip
    for step, sample in ((2, "old sample"), (4, f"new {EVIL} sample")):
        with (run / "media" / f"val_samples-step{step}.csv").open("w", newline="") as file:
            csv.writer(file).writerows([["prompt", "sample"], ["def ", sample]])
    _png(run / "media" / "val_attention-step4.png")
    (run / "checkpoints").mkdir()
    for name in ("last.ckpt", "best.ckpt", "step=2.ckpt"):
        (run / "checkpoints" / name).write_bytes(b"weights")
    (run / "wandb" / "offline-run-20261206_100000-abc").mkdir(parents=True)
    return run


def _killed_run(root: Path) -> Path:
    """Killed before logging anything: a config with another hidden size, a `running` status whose
    process is gone (a pid above Linux's largest), no metrics."""
    run = root / "lm" / "version_1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(_config(64, "lm"), encoding="utf-8")
    (run / "status.json").write_text(
        json.dumps({"state": "running", "pid": 2**22 + 7, "host": socket.gethostname()})
    )
    return run


def _cut_run(root: Path) -> Path:
    """A metrics file cut mid-line (the disk filled, the node died while writing)."""
    run = root / "cut" / "version_0"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,step,train/loss,val/loss\n0,1,4.0,\n0,2,,3.", encoding="utf-8")
    return run


def _page(capsys, *argv: str) -> str:
    main(["dashboard", *argv])
    written = Path(capsys.readouterr().out.strip())
    return written.read_text(encoding="utf-8").replace("<wbr>", "")  # line-break hints in paths and keys


def test_page_shows_differences_metrics_media_links_and_escapes_run_text(tmp_path, capsys):
    _finished_run(tmp_path / "runs")
    _killed_run(tmp_path / "runs")
    page = _page(capsys, "runs/lm/version_0", "runs/lm/version_1", "--output", "out/dash.html")

    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "<link" not in page
    differences = page.split("<h2>Config differences</h2>")[1].split("<details>")[0]
    assert "model.net.hidden_size" in differences and "run.name" in differences
    assert "model.net.cell" not in differences and "model.optimizer.lr" not in differences
    # Final and best: val/loss is lower-is-better (best 2.5 at step 2, final 2.7), val/acc higher.
    metrics = page.split("<h2>Final and best metrics</h2>")[1].split("<h2>")[0]
    at = r'([\d.]+) <span class="muted">@(\d)'
    cell = rf'<td class="num">{at}</span><br><span class="best">{at}'
    # (final, its step, best, its step) of train/loss, val/acc, val/loss
    expected = [("3", "2", "3", "2"), ("0.6", "4", "0.6", "4"), ("2.7", "4", "2.5", "2")]
    assert re.findall(cell, metrics) == expected
    media = page.split("<h2>Latest media</h2>")[1].split("<h2>")[0]
    assert "val_samples, step 4" in media and "old sample" not in media and "new &lt;script&gt;" in media
    assert 'alt="val_attention, step 4" src="data:image/png;base64,' in media
    assert 'href="../runs/lm/version_0/checkpoints/last.ckpt"' in page
    assert 'href="../runs/lm/version_0/checkpoints/best.ckpt"' in page
    assert 'href="../runs/lm/version_0/checkpoints/step%3D2.ckpt"' in page
    assert (
        f"wandb sync {(tmp_path / 'runs/lm/version_0/wandb/offline-run-20261206_100000-abc').resolve()}"
        in page
    )
    # The killed run: a note, no traceback.
    assert "lm/version_1</b>: the run died before logging a step (its process is gone" in page
    assert "lm/version_1</b>: no metrics yet" in page and 'class="state died"' in page
    # Curves as `seqlab report` draws them (loss: train and validation; val/acc), then the heatmap.
    assert re.findall(r'<img alt="([^"]+)"', page) == ["loss", "val/acc", "val_attention, step 4"]


def test_a_metrics_file_cut_mid_line_is_a_note(tmp_path, capsys):
    _cut_run(tmp_path / "runs")
    page = _page(capsys, "cut", "--root_dir", "runs")  # a run name under --root_dir: its newest version
    assert "metrics.csv ends mid-line" in page and "no config.yaml" in page
    assert '<h2>Learning curves</h2><div class="grid">' in page  # the rows before the cut are drawn


def test_a_run_that_is_not_there_is_one_error_line(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["dashboard", "runs/nope"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == (  # as docs/dashboards.md shows it
        "seqlab: error: runs/nope: not a run (looked for runs/nope or runs/runs/nope): expected a run "
        "directory holding config.yaml, metrics.csv or status.json, a run name's directory of version_N, "
        "or a run name under --root_dir runs\n"
    )
    assert not Path("dashboard.html").exists()


def test_only_an_earlier_dashboard_is_replaced_without_overwrite(tmp_path, capsys):
    run = _finished_run(tmp_path / "runs")
    Path("notes.html").write_text("my notes", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["dashboard", str(run), "--output", "notes.html"])
    assert exit_.value.code == 2
    assert "notes.html exists and is not a seqlab dashboard; pass --overwrite true" in capsys.readouterr().err
    assert Path("notes.html").read_text() == "my notes"
    assert GENERATOR in _page(capsys, str(run))  # the default ./dashboard.html
    assert GENERATOR in _page(capsys, str(run))  # replaced: it is a dashboard
    # The command in docs/dashboards.md:
    assert GENERATOR in _page(capsys, "runs/lm/version_0", "--output", "notes.html", "--overwrite", "true")
    assert sorted(p.name for p in Path().iterdir() if p.name.endswith(".partial")) == []


def test_flatten_leaves_out_init_args_levels():
    config = {"model": {"class_path": "T", "init_args": {"net": {"hidden_size": 8}, "betas": [0.9, 0.99]}}}
    assert flatten(config) == {
        "model.class_path": "T",
        "model.net.hidden_size": 8,
        "model.betas": [0.9, 0.99],
    }
