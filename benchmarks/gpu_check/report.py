"""The one table the GPU check prints (plain text) and writes (markdown), from the sections' records."""

from __future__ import annotations

from collections import Counter
from typing import Any

RESULTS = ("OK", "WARN", "FAIL", "SKIP")
DETAIL_WIDTH = 110  # plain text only; markdown and JSON keep the whole detail


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["row"] for r in records if "row" in r]


def meta_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for record in records:
        facts.update(record.get("meta", {}))
    return facts


def header(records: list[dict[str, Any]], total: float, device: str) -> list[str]:
    m = meta_of(records)
    name = m.get("device", device)
    return [
        f"seqlab GPU check on {name} ({device}): torch {m.get('torch', '?')} (CUDA {m.get('cuda', '?')}, "
        f"cuDNN {m.get('cudnn', '?')}), lightning {m.get('lightning', '?')}, python {m.get('python', '?')}, "
        f"{m.get('cpus', '?')} CPUs",
        f"total wall time {total:.0f} s ({total / 60:.1f} min)",
    ]


def footer(records: list[dict[str, Any]]) -> list[str]:
    times = [r["elapsed"] for r in records if "elapsed" in r]
    parts = [f"{t['section']} {t['seconds']:.0f}/{t['budget']:.0f}" for t in times]
    counts = Counter(row["result"] for row in rows_of(records))
    return [
        "section seconds/budget: " + ", ".join(parts),
        "results: " + ", ".join(f"{counts.get(r, 0)} {r}" for r in RESULTS),
    ]


def seconds(row: dict[str, Any]) -> str:
    return "" if row.get("seconds") is None else f"{row['seconds']:.1f}"


def render_text(records: list[dict[str, Any]], total: float, device: str) -> str:
    rows = rows_of(records)
    item_width = max([len(r["item"]) for r in rows] + [4])
    line = f"{{:<6}}  {{:<{item_width}}}  {{:<6}} {{:>6}}  {{}}"
    out = ["", *header(records, total, device), line.format("sect.", "item", "result", "s", "detail")]
    out.append(line.format("-" * 6, "-" * item_width, "-" * 6, "-" * 6, "-" * 6))
    for r in rows:
        detail = r["detail"] if len(r["detail"]) <= DETAIL_WIDTH else r["detail"][: DETAIL_WIDTH - 3] + "..."
        out.append(line.format(r["section"], r["item"], r["result"], seconds(r), detail))
    return "\n".join([*out, *footer(records)])


def render_markdown(records: list[dict[str, Any]], total: float, device: str) -> str:
    out = [f"# {header(records, total, device)[0]}", "", header(records, total, device)[1], ""]
    out += ["| section | item | result | detail | s |", "| --- | --- | --- | --- | ---: |"]
    for r in rows_of(records):
        detail = r["detail"].replace("|", "\\|")
        out.append(f"| {r['section']} | {r['item']} | {r['result']} | {detail} | {seconds(r)} |")
    return "\n".join([*out, "", *footer(records), ""])
