"""The sweep file: what to search (any experiment key by its dotted path), how, and with what resources.

A sweep YAML is parsed into :class:`Sweep` by jsonargparse, so a misspelt or mistyped field fails with
the key's name before Ray starts. The search space is then turned into Ray Tune domains::

    space:
      model.init_args.net.hidden_size: {choice: [128, 256]}
      model.init_args.optimizer.init_args.lr: {loguniform: [3.0e-4, 1.0e-2]}
      model.init_args.net.dropout: {quniform: [0.0, 0.4, 0.1]}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonargparse import ArgumentError, ArgumentParser

from seqlab.engine.config_files import yaml_problem

# kind -> number of arguments it takes (None: a non-empty list of values)
DOMAINS: dict[str, int | None] = {
    "choice": None,
    "grid": None,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "randint": 2,
    "qrandint": 3,
    "randn": 2,
}


class SweepError(ValueError):
    """A sweep file that cannot be used; the message names the file and the key."""


@dataclass
class SearchSettings:
    """How points are drawn.

    Args:
        algorithm: ``random`` (random draws; ``grid`` entries are crossed with them), ``grid`` (only
            ``grid``/``choice`` dimensions, every combination) or ``optuna`` (TPE through Ray's
            Optuna integration; needs ``pip install optuna``).
        seed: seed of the random draws (``None``: different every sweep).
    """

    algorithm: Literal["random", "grid", "optuna"] = "random"
    seed: int | None = 0


@dataclass
class SchedulerSettings:
    """When trials are stopped early (``asha``), exploited (``pbt``) or left alone (``fifo``).

    Time is counted in validations (``iteration``, reported after every validation of a trial).

    Args:
        name: ``fifo``, ``asha`` or ``pbt``.
        max_t: ASHA: the most validations a trial gets.
        grace_period: ASHA: validations before a trial can be stopped.
        reduction_factor: ASHA: keep the best 1/reduction_factor at every rung.
        perturbation_interval: PBT: validations between exploit/explore steps.
        quantile_fraction: PBT: the bottom fraction copies the top fraction's checkpoint.
        resample_probability: PBT: chance a mutated value is drawn afresh instead of perturbed.
    """

    name: Literal["fifo", "asha", "pbt"] = "asha"
    max_t: int = 10
    grace_period: int = 1
    reduction_factor: float = 2.0
    perturbation_interval: int = 2
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25


@dataclass
class TrialResources:
    """Resources of one trial.

    Args:
        cpu: CPUs per worker.
        gpu: GPUs per worker.
        workers: processes per trial; more than 1 runs each trial as a DDP job on Ray Train.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 1


@dataclass
class Sweep:
    """A hyperparameter sweep over one experiment config.

    Args:
        name: the sweep's name (its directory is ``<root_dir>/sweeps/<name>/version_N``).
        metric: the validation metric to optimise, as the task logs it (``val/loss``, ``val/bpc``...).
        mode: ``min`` or ``max``.
        space: dotted config key -> ``{kind: arguments}``; kinds: choice [values], grid [values],
            uniform [low, high], quniform [low, high, q], loguniform [low, high], qloguniform
            [low, high, q], randint [low, high) , qrandint [low, high, q], randn [mean, sd].
        overrides: dotted config key -> value applied to every trial (e.g. a shorter schedule).
        num_samples: trials to draw (with grid dimensions: draws per grid point).
        search: the search algorithm.
        scheduler: the trial scheduler.
        resources: per trial.
        max_concurrent_trials: trials running at once (``None``: as many as resources allow).
        max_failures: retries of a failing trial before it is recorded as failed.
        time_budget_s: stop the whole sweep after this many seconds (``None``: no limit).
        checkpoints_to_keep: Tune checkpoints kept per trial (only PBT reports them); keep a few, as a
            trial may exploit another's checkpoint after that trial has reported newer ones.
    """

    name: str
    metric: str
    mode: Literal["min", "max"]
    space: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    num_samples: int = 4
    search: SearchSettings = field(default_factory=SearchSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    resources: TrialResources = field(default_factory=TrialResources)
    max_concurrent_trials: int | None = None
    max_failures: int = 0
    time_budget_s: float | None = None
    checkpoints_to_keep: int = 4


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read and check a sweep YAML.

    Raises:
        SweepError: unknown or mistyped field, bad domain; the message names ``path`` and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SweepError(yaml_problem(str(path), err)) from None
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: expected a mapping of sweep settings, got {type(raw).__name__}")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(Sweep, "sweep")
    try:
        sweep = parser.instantiate_classes(parser.parse_object({"sweep": raw})).sweep
    except ArgumentError as err:
        raise SweepError(f"{path}: {err}") from None
    for key, spec in sweep.space.items():
        check_domain(key, spec, path)
    if sweep.search.algorithm == "grid":
        random_keys = [k for k, s in sweep.space.items() if next(iter(s)) not in ("grid", "choice")]
        if random_keys:
            bad = random_keys[0]
            raise SweepError(f"{path}: search.algorithm grid needs grid or choice domains, not {bad}")
    if sweep.resources.workers < 1:
        raise SweepError(f"{path}: resources.workers must be >= 1, got {sweep.resources.workers}")
    return sweep


def check_domain(key: str, spec: Any, path: Path) -> None:
    where = f"{path}: space.{key}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SweepError(f"{where}: expected one {{kind: arguments}} pair, kinds: {', '.join(DOMAINS)}")
    ((kind, args),) = spec.items()
    if kind not in DOMAINS:
        raise SweepError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(DOMAINS)}")
    arity = DOMAINS[kind]
    if not isinstance(args, list) or not args:
        raise SweepError(f"{where}: {kind} takes a list of arguments, got {args!r}")
    if arity is not None:
        if len(args) != arity or not all(isinstance(a, (int, float)) for a in args):
            raise SweepError(f"{where}: {kind} takes {arity} numbers, got {args!r}")
        if kind != "randn" and args[0] >= args[1]:
            raise SweepError(f"{where}: {kind} needs low < high, got {args!r}")
        if kind in ("loguniform", "qloguniform") and args[0] <= 0:
            raise SweepError(f"{where}: {kind} needs low > 0, got {args!r}")


def to_domain(spec: dict[str, Any]) -> Any:
    """One ``{kind: arguments}`` entry as a Ray Tune domain."""
    from ray import tune

    ((kind, args),) = spec.items()
    if kind == "grid":
        return tune.grid_search(list(args))
    if kind == "choice":
        return tune.choice(list(args))
    return getattr(tune, kind)(*args)


def param_space(sweep: Sweep) -> dict[str, Any]:
    """The Tune parameter space: one flat entry per dotted key (dots are not nested by Tune)."""
    return {key: to_domain(spec) for key, spec in sweep.space.items()}


def example_point(sweep: Sweep) -> dict[str, Any]:
    """One valid value per dimension, to check the keys against the experiment before Ray starts."""
    point = {}
    for key, spec in sweep.space.items():
        ((kind, args),) = spec.items()
        point[key] = args[0] if DOMAINS[kind] is None else (int(args[0]) if "randint" in kind else args[0])
    return point
