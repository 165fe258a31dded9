"""The dashboard page as one self-contained HTML string: inline CSS, figures as base64 PNG, no script and
no request to anywhere. Every piece of text that comes from a run (config values, metric names, samples)
is escaped, so a value holding ``<script>`` shows as text."""

from __future__ import annotations

import base64
import csv
import html
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from seqlab.engine.run_dir import shown
from seqlab.reporting.run_view import Media, RunView, duration, updated

GENERATOR = "seqlab dashboard"  # the <meta name="generator"> that marks a file as ours to replace
MEDIA_ROWS = 12  # rows of a media table shown (the file has them all)
CELL_CHARS = 400
# Settings shown for a single run: the model's architecture, what it learns from, how long and how fast
# (every key is in the full config below them; an optimizer's many defaults are left to it).
KEY_SETTINGS = re.compile(
    r"^(model\.(class_path|net\..*|optimizer\.(class_path|lr|weight_decay)|lr_scheduler\.class_path"
    r"|label_smoothing|gradient_clip_norm|tbptt_steps)"
    r"|data\.(.*class_path|batch_size|seq_len|max_length)|seed_everything|run\.name"
    r"|trainer\.(max_steps|max_epochs|precision|accumulate_grad_batches|gradient_clip_val))$"
)
LOWER_IS_BETTER = ("loss", "ppl", "perplexity", "bpc", "wer", "cer", "per", "ter", "error", "distance")
HIGHER_IS_BETTER = ("acc", "f1", "bleu", "chrf", "precision", "recall", "exact", "auc")

CSS = """
:root { --ink:#1d2430; --muted:#5d6778; --line:#dde2ea; --band:#f5f7fa; --accent:#2458b3; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
header { background: #1f2a3d; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #c5cede; font-size: 13px; }
main { max-width: 1400px; margin: 0 auto; padding: 8px 32px 40px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top;
         max-width: 420px; overflow-wrap: break-word; }
.scroll { overflow-x: auto; max-width: 100%; }
th { background: var(--band); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.sample td { white-space: pre-wrap; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
             max-width: 640px; }
.state { display: inline-block; white-space: nowrap; padding: 1px 8px; border-radius: 9px; font-size: 12px;
         font-weight: 600; background: #e5e8ee; }
.state.finished { background: #d8f0dd; color: #1c6b2e; }
.state.running { background: #dbe8fb; color: #1f4f9c; }
.state.stopped { background: #fbefd3; color: #84600b; }
.state.failed, .state.died { background: #f8dcdc; color: #9b1c1c; }
.note { margin: 4px 0; padding: 6px 10px; border-left: 4px solid #e2a93b; background: #fdf6e7;
        font-size: 13px; }
.muted { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; }
figure { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.grid.media { grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); }
.media img { max-height: 520px; width: auto; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; text-align: center; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
a { color: var(--accent); }
.best { font-weight: 600; }
"""


def e(value: Any) -> str:
    """Text from a run, safe in HTML content and attributes."""
    return html.escape(str(value), quote=True)


def breakable(value: Any) -> str:
    """Escaped text that may wrap after ``/`` and ``.`` (paths, dotted keys, class paths), not mid-word."""
    return e(value).replace("/", "/<wbr>").replace(".", ".<wbr>")


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    """A table of already-escaped cells (a cell starting ``<td`` is used as given)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    table = f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'  # a wide table scrolls instead of widening the page


def _overview(runs: Sequence[RunView]) -> str:
    rows = []
    for run in runs:
        monitor, mode = run.status.get("monitor", "val/loss"), run.status.get("mode", "min")
        values = [v for _, v in run.metrics.get(monitor, [])]
        best = f"{e(monitor)} = {(min if mode == 'min' else max)(values):.4g}" if values else ""
        step = run.last_step
        rows.append([
            f"<b>{e(run.label)}</b>",
            f'<span class="state {e(run.state)}">{e(run.state)}</span>',
            e(run.task),
            f'<td class="num">{"" if step is None else e(step)}</td>',
            f'<td class="num">{e(duration(run.wall_seconds))}</td>',
            e(updated(run.status)),
            best,
            f'<span class="mono">{breakable(shown(run.path))}</span>',
        ])  # fmt: skip
    header = ["run", "status", "task", "last step", "wall time", "updated", "best", "directory"]
    notes = "".join(f'<p class="note"><b>{e(r.label)}</b>: {e(n)}</p>' for r in runs for n in r.notes)
    return "<h2>Runs</h2>" + _table(header, rows) + notes


def _config_table(runs: Sequence[RunView], keys: Sequence[str]) -> str:
    rows = [
        [f'<span class="mono">{breakable(k)}</span>']
        + [
            f'<span class="mono">{breakable(_value(r.config[k]))}</span>' if k in r.config else "&mdash;"
            for r in runs
        ]
        for k in keys
    ]
    return _table(["key", *(e(r.label) for r in runs)], rows)


def _config(runs: Sequence[RunView]) -> str:
    """One run: its key settings. Several: the keys all of them have, where values differ; then, folded,
    the keys only some of them have (runs of different tasks differ in most of their config)."""
    keys = sorted({k for run in runs for k in run.config})
    if not any(run.config for run in runs):
        body = '<p class="muted">No config to show.</p>'
    elif len(runs) == 1:
        shown = [k for k in keys if KEY_SETTINGS.match(k) and runs[0].config[k] is not None]
        body = (
            '<p class="muted">The settings that shape the model and its data; the full config is below.</p>'
            + _config_table(runs, shown)
        )
    else:
        differ = [k for k in keys if len({repr(run.config.get(k)) for run in runs}) > 1]
        everywhere = [k for k in differ if all(k in run.config for run in runs)]
        somewhere = [k for k in differ if k not in everywhere]
        body = (
            '<p class="muted">Only the keys whose values differ between the runs, dotted as on the command '
            "line.</p>" + (_config_table(runs, everywhere) if everywhere else "<p>No differences.</p>")
        )
        if somewhere:
            body += (
                f"<details><summary>{len(somewhere)} keys only some of the runs have</summary>"
                + _config_table(runs, somewhere)
                + "</details>"
            )
    full = "".join(
        f"<details><summary>full config of {e(run.label)} ({len(run.config)} keys)</summary>"
        + _table(
            ["key", "value"],
            [[f'<span class="mono">{breakable(k)}</span>', e(_value(v))] for k, v in run.config.items()],
        )
        + "</details>"
        for run in runs
        if run.config
    )
    title = "Key settings" if len(runs) == 1 else "Config differences"
    return f"<h2>{title}</h2>{body}{full}"


def direction(metric: str) -> str | None:
    """``min`` or ``max``: which way a metric improves, from its name (``None``: not known)."""
    name = metric.rsplit("/", 1)[-1].lower()
    if any(part in name for part in LOWER_IS_BETTER):
        return "min"
    if any(part in name for part in HIGHER_IS_BETTER):
        return "max"
    return None


def _metric_cell(points: list[tuple[int, float]], mode: str | None) -> str:
    """Final value over best value, each with its step: one narrow column per run."""
    if not points:
        return "&mdash;"
    step, value = points[-1]
    final = f'{value:.4g} <span class="muted">@{step}</span>'
    if mode is None:
        return f'<td class="num">{final}<br><span class="muted">?</span></td>'
    best_step, best = (min if mode == "min" else max)(points, key=lambda p: p[1])
    best_text = f'{best:.4g} <span class="muted">@{best_step}</span>'
    return f'<td class="num">{final}<br><span class="best">{best_text}</span></td>'


def _metrics(runs: Sequence[RunView]) -> str:
    names = sorted(
        {n for run in runs for n in run.metrics if n.startswith(("val/", "test/")) or n == "train/loss"}
    )
    if not names:
        return '<h2>Final and best metrics</h2><p class="muted">No metrics logged yet.</p>'
    header = ["metric", "better", "", *(e(r.label) for r in runs)]
    rows = []
    for name in names:
        mode = direction(name)
        better = {"min": "lower", "max": "higher", None: "?"}[mode]
        cells = [_metric_cell(run.metrics.get(name, []), mode) for run in runs]
        rows.append(
            [
                f'<span class="mono">{e(name)}</span>',
                better,
                '<span class="muted">final<br>best</span>',
                *cells,
            ]
        )
    intro = (
        '<p class="muted">The last value of each metric and its best (in bold), with the step (@) each was '
        "logged at.</p>"
    )
    return "<h2>Final and best metrics</h2>" + intro + _table(header, rows)


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _curves(figures: Mapping[str, bytes]) -> str:
    if not figures:
        return '<h2>Learning curves</h2><p class="muted">No metrics to draw yet.</p>'
    cells = "".join(f"<figure>{_img(png, title)}</figure>" for title, png in figures.items())  # titled inside
    return f'<h2>Learning curves</h2><div class="grid">{cells}</div>'


def _csv_table(path: Path) -> str:
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        return f'<p class="note">{e(path.name)} could not be read: {e(err)}</p>'
    if not rows:
        return f'<p class="note">{e(path.name)} is empty</p>'
    clip = [
        [e(c if len(c) <= CELL_CHARS else c[:CELL_CHARS] + " …") for c in row]
        for row in rows[1 : MEDIA_ROWS + 1]
    ]
    more = (
        f'<p class="muted">first {MEDIA_ROWS} of {len(rows) - 1} rows</p>'
        if len(rows) - 1 > MEDIA_ROWS
        else ""
    )
    return _table([e(h) for h in rows[0]], clip, "sample") + more


def _media_item(item: Media) -> str:
    caption = f"{item.key}, step {item.step}"
    if item.path.suffix == ".png":
        try:
            image = _img(item.path.read_bytes(), caption)
            return f"<figure>{image}<figcaption>{e(caption)}</figcaption></figure>"
        except OSError as err:
            return f'<p class="note">{e(item.path.name)} could not be read: {e(err)}</p>'
    return f"<h3>{e(caption)}</h3>{_csv_table(item.path)}"


def _media(runs: Sequence[RunView]) -> str:
    parts = ["<h2>Latest media</h2>"]
    for run in runs:
        parts.append(f"<h3>{e(run.label)}</h3>")
        if not run.media:
            parts.append('<p class="muted">No media (samples, heatmaps, confusion matrices) written yet.</p>')
            continue
        images = [m for m in run.media if m.path.suffix == ".png"]
        if images:
            parts.append('<div class="grid media">' + "".join(_media_item(m) for m in images) + "</div>")
        parts += [_media_item(m) for m in run.media if m.path.suffix != ".png"]
    return "".join(parts)


def _link(path: Path, base: Path) -> str:
    relative = os.path.relpath(path, base)
    return f'<a href="{e(quote(Path(relative).as_posix()))}">{e(path.name)}</a>'


def _checkpoints(runs: Sequence[RunView], base: Path) -> str:
    rows = []
    for run in runs:
        last = run.path / "checkpoints" / "last.ckpt"
        others = [c for c in run.checkpoints if c not in (last, run.best_checkpoint)]
        rows.append([
            e(run.label),
            _link(last, base) if last in run.checkpoints else '<span class="muted">none</span>',
            _link(run.best_checkpoint, base) if run.best_checkpoint else '<span class="muted">none</span>',
            ", ".join(_link(c, base) for c in others),
        ])  # fmt: skip
    table = _table(["run", "last", "best", "other checkpoints"], rows)
    syncs = [
        f"<li><b>{e(run.label)}</b>: <code>wandb sync {e(p)}</code></li>"
        for run in runs
        for p in run.wandb_runs
    ]
    wandb = (
        "<p>These runs have offline W&amp;B records; upload them to see W&amp;B's dashboards:</p><ul>"
        + "".join(syncs)
        + "</ul>"
        if syncs
        else '<p class="muted">No offline W&amp;B records in these runs (train with '
        "<code>--run.wandb.mode offline</code> to keep one for <code>wandb sync</code>).</p>"
    )
    return "<h2>Checkpoints</h2>" + table + "<h2>W&amp;B</h2>" + wandb


def render(runs: Sequence[RunView], figures: Mapping[str, bytes], base: Path) -> str:
    """The page for ``runs`` with ``figures`` (title -> PNG) as learning curves; links relative to ``base``
    (the directory the page is written to)."""
    names = ", ".join(run.label for run in runs)
    made = time.strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="generator" content="{GENERATOR}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>seqlab dashboard: {e(names)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>seqlab dashboard</h1><p>{len(runs)} run{'s' if len(runs) != 1 else ''}: {e(names)}"
        f" &middot; made {e(made)}</p></header><main>"
        + _overview(runs)
        + _config(runs)
        + _metrics(runs)
        + _curves(figures)
        + _media(runs)
        + _checkpoints(runs, base)
        + "</main></body></html>\n"
    )


def is_dashboard(path: Path) -> bool:
    """Whether ``path`` is a page this module wrote (so replacing it destroys nothing else)."""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">'.encode() in head
