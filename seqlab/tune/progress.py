"""What a sweep prints while it runs: a start line, then one line per trial that ends (its metric and
run directory, or its error and log file). Ray's own status tables and trial tracebacks are turned
off (``tuner``), and each trial's own output goes to ``trial.log`` in its run directory (``trial``),
so that the final table (``tuner.report``) is the last thing on the screen.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ray import tune

from seqlab.tune.report import STOPPED_MARKER
from seqlab.tune.results import error_line
from seqlab.tune.sweep import Sweep
from seqlab.tune.trial import LOG_FILE, trial_run_dir


def planned_trials(sweep: Sweep) -> int:
    """Trials a new sweep starts: ``num_samples`` times every grid combination (with ``algorithm:
    grid``, ``choice`` dimensions are grid dimensions too)."""
    count = sweep.num_samples
    for spec in sweep.space.values():
        ((kind, args),) = spec.items()
        if kind == "grid" or (kind == "choice" and sweep.search.algorithm == "grid"):
            count *= len(args)
    return count


def start_line(sweep: Sweep, sweep_dir: Path, resumed: bool) -> str:
    what = "resuming" if resumed else f"{planned_trials(sweep)} trials"
    at_once = f", {sweep.max_concurrent_trials} at a time" if sweep.max_concurrent_trials else ""
    return (
        f"seqlab tune: sweep {sweep.name}, {what}{at_once}, {sweep.metric} ({sweep.mode}); results in "
        f"{_shown(sweep_dir)} (each trial's output: trials/<trial>/{LOG_FILE})"
    )


def _shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies below it (shorter lines)."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


class TrialLines(tune.Callback):
    """Prints one line when a trial ends: finished (or stopped early by the scheduler) with its last
    and best value of the sweep's metric, or failed with the error's line and the trial's log file."""

    def __init__(self, sweep_dir: Path, metric: str, mode: str, budget: int | None = None) -> None:
        self.sweep_dir, self.metric, self.mode, self.budget = sweep_dir, metric, mode, budget
        self.best: dict[str, float] = {}
        self.stopped: set[str] = set()

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if result.get("done"):  # only the scheduler's (or a stopper's) STOP marks a reported result done
            self.stopped.add(trial.trial_id)
        value = result.get(self.metric)
        if isinstance(value, int | float) and not math.isnan(value):
            seen = self.best.get(trial.trial_id)
            better = seen is None or (value < seen if self.mode == "min" else value > seen)
            self.best[trial.trial_id] = value if better else seen  # type: ignore[assignment]

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        run_dir = trial_run_dir(self.sweep_dir, trial.trial_id)
        validations = result.get("iteration", 0)
        # Stopped by the scheduler before its end (the trial's own marker may come later, see
        # results._status); stopped at the scheduler's budget counts as finished.
        stopped = trial.trial_id in self.stopped or (run_dir / STOPPED_MARKER).is_file()
        early = stopped and (self.budget is None or validations < self.budget)
        how = "stopped early" if early else "finished"
        last, best = result.get(self.metric, math.nan), self.best.get(trial.trial_id, math.nan)
        print(
            f"trial {trial.trial_id} {how}: {self.metric} {last:.4g} (best {best:.4g}) after "
            f"{validations} validations  {_shown(run_dir)}",
            flush=True,
        )

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._failed(trial, "failed, retrying")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._failed(trial, "failed")

    def _failed(self, trial: Any, how: str) -> None:
        error_file = Path(trial.error_file) if trial.error_file else None
        error = error_file.read_text(errors="replace") if error_file and error_file.is_file() else None
        log = trial_run_dir(self.sweep_dir, trial.trial_id) / LOG_FILE
        print(
            f"trial {trial.trial_id} {how}: {error_line(error) or 'see its log'}  log: {_shown(log)}",
            flush=True,
        )
