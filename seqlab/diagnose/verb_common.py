"""What the ``seqlab diagnose`` verbs share: argument types, their argparse parser, running on one
thread (``seqlab.nn.threads``), and their outputs (tables, CSV files, W&B).

The verbs' own options are parsed with argparse so that ``gradients`` can pass every other
``--key=value`` on to the experiment config, exactly as ``seqlab fit`` would take it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

from seqlab.console import format_table
from seqlab.engine.loggers import WandbSettings, build_loggers, finish_wandb

Table = tuple[list[str], list[list[Any]]]


def print_table(header: Sequence[Any], rows: Sequence[Sequence[Any]], number: str = ".3g") -> None:
    print(format_table(header, rows, number))


def log_to_wandb(
    run_dir: Path, name: str, settings: WandbSettings, images: dict[str, Path], tables: dict[str, Table]
) -> None:
    """Log figures and tables to the W&B run of ``run_dir`` (for a checkpoint's directory, the
    training's own W&B run, resumed), through the engine's logger set-up."""
    for logger in build_loggers(run_dir, name, settings):
        if isinstance(logger, WandbLogger):
            for key, path in images.items():
                logger.log_image(key, [str(path)])
            for key, (columns, rows) in tables.items():
                logger.log_table(key, columns, rows)
            finish_wandb([logger])
            where = f"`wandb sync {run_dir}/wandb/offline-run-*`" if settings.mode == "offline" else "online"
            print(f"W&B ({settings.mode}): logged {', '.join(images)}; {where}")


def write_csv(path: Path, header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path
