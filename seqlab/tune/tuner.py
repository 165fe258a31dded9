"""Start or resume a sweep on Ray Tune and report its trials: what ``seqlab tune`` does once its
arguments are parsed (``cli``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from seqlab.engine.build import ConfigError, experiment_parser
from seqlab.engine.config_files import config_file_problem
from seqlab.engine.config_keys import explain
from seqlab.engine.run_dir import next_version
from seqlab.tune import results
from seqlab.tune.progress import TrialLines, start_line
from seqlab.tune.sweep import Sweep, SweepError, example_point, load_sweep, param_space, to_domain
from seqlab.tune.trial import TrialPlan, override_args, run_trial

SWEEP_FILE, PLAN_FILE, TUNE_DIR = "sweep.yaml", "plan.json", "tune"


def check_experiment(experiment: Path, sweep: Sweep, extra_args: list[str]) -> None:
    """Parse the experiment with the sweep's keys (one example value each) so that a key that does not
    exist fails here, naming it, and not in every trial."""
    args = [
        "--config",
        str(experiment),
        *override_args(sweep.overrides),
        *extra_args,
        *override_args(example_point(sweep)),
    ]  # in the order a trial gives them (see trial.fit_args)
    parser = experiment_parser()
    try:
        parser.parse_args(args)
    except Exception as err:  # jsonargparse's ArgumentError, or a bad value's own error
        raise ConfigError(f"{experiment} with sweep {sweep.name}: {explain(err, parser, args)}") from None


def _search(sweep: Sweep) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if sweep.search.algorithm == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch

            return OptunaSearch(seed=sweep.search.seed)
        except (ImportError, AssertionError) as err:  # Ray asserts that optuna is importable
            raise SweepError(f"search.algorithm optuna needs optuna: pip install optuna ({err})") from None
    # Ray ignores TuneConfig.max_concurrent_trials with this generator; it takes the limit itself.
    return BasicVariantGenerator(
        random_state=sweep.search.seed, max_concurrent=sweep.max_concurrent_trials or 0
    )


def _scheduler(sweep: Sweep) -> Any:
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, PopulationBasedTraining

    s = sweep.scheduler
    if s.name == "asha":
        return AsyncHyperBandScheduler(
            time_attr="iteration",
            max_t=s.max_t,
            grace_period=s.grace_period,
            reduction_factor=s.reduction_factor,
        )
    if s.name == "pbt":
        mutations = {}
        for key, spec in sweep.space.items():
            ((kind, args),) = spec.items()
            mutations[key] = to_domain({"choice": args} if kind == "grid" else spec)
        return PopulationBasedTraining(
            time_attr="iteration",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations,
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
        )
    return FIFOScheduler()


def _space(sweep: Sweep) -> dict[str, Any]:
    if sweep.search.algorithm == "grid":  # every combination: choices become grid dimensions too
        grid = {key: {"grid": next(iter(spec.values()))} for key, spec in sweep.space.items()}
        return param_space(dataclasses.replace(sweep, space=grid))
    return param_space(sweep)


def _trainable(plan: TrialPlan) -> Any:
    from ray import tune

    if plan.workers > 1:
        # The trial only drives Ray Train's workers, which hold the CPUs and GPUs; Ray wants some
        # resource in every request, so it asks for one byte of memory.
        resources: dict[str, float] = {"cpu": 0, "memory": 1}
    else:
        resources = {"cpu": plan.cpu, "gpu": plan.gpu}
    return tune.with_resources(tune.with_parameters(run_trial, plan=plan), resources)


def _run_config(sweep: Sweep, sweep_dir: Path) -> Any:
    """Tune's settings for the sweep. ``verbose=0`` with Tune's classic output (``init_ray`` sets
    ``RAY_AIR_NEW_OUTPUT=0``: the newer output prints its experiment table, results path and each
    failed trial's block whatever ``verbose`` says) drops Ray's status tables (every 30 s) and trial
    tables: :class:`TrialLines` prints one line per trial instead."""
    from ray import tune

    return tune.RunConfig(
        name=TUNE_DIR,
        storage_path=str(sweep_dir.resolve()),
        failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=sweep.checkpoints_to_keep),
        verbose=0,
        callbacks=[TrialLines(sweep_dir, sweep.metric, sweep.mode, _budget(sweep))],
    )


class _DropRayNotes(logging.Filter):
    """Drops Ray's note that a new local cluster uses token authentication (what the user wants;
    nothing to act on; its warning that authentication is *disabled* still shows) and Tune's list of
    trials that did not complete (the final table has them, each with its error)."""

    NOTES = ("Token authentication is enabled for this Ray cluster", "Trials did not complete")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOTES)


def _quiet_ray_notes() -> None:
    for name in ("ray._private.authentication.authentication_token_setup", "ray.tune.tune"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropRayNotes) for f in logger.filters):
            logger.addFilter(_DropRayNotes())


def init_ray(address: str | None) -> None:
    """Join ``address`` (or RAY_ADDRESS) if given; otherwise start Ray on loopback only, without usage
    statistics or dashboard. Trials run in this working directory, so relative paths in configs hold.

    What reaches the console: trials write their output to their own ``trial.log`` (not forwarded
    here: ``log_to_driver=False``), and Tune's traceback of a failed trial is left to its error file
    (``TUNE_PRINT_ALL_TRIAL_ERRORS=0``; :class:`TrialLines` prints the error's line and the log).
    A new local Ray enables token authentication and says so ("Token authentication is enabled for
    this Ray cluster ..."): that one line is dropped, the setting kept; so is Tune's closing "Trials
    did not complete: [...]" (the table names every failed trial). See :class:`_DropRayNotes`.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    import ray

    _quiet_ray_notes()
    env = {k: v for k, v in os.environ.items() if k.startswith(("WANDB_", "SEQLAB_", "HF_", "RAY_CHDIR"))}
    runtime_env = {"env_vars": env}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(
            log_to_driver=False,
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
            configure_logging=False,
            # A stopped trial's worker would take its W&B service process down with it before the
            # run is written out (see ReportToTune); the trial closes W&B and then exits on its own.
            _system_config={"kill_child_processes_on_worker_exit": False},
        )


def new_sweep_dir(
    root_dir: str, sweep: Sweep, experiment: Path, plan_args: dict[str, Any], sweep_file: Path
) -> Path:
    base = Path(root_dir) / "sweeps" / sweep.name
    sweep_dir = (base / f"version_{next_version(base.parent, sweep.name)}").resolve()
    sweep_dir.mkdir(parents=True)
    shutil.copyfile(sweep_file, sweep_dir / SWEEP_FILE)
    shutil.copyfile(experiment, sweep_dir / "experiment.yaml")  # a record; trials read the original
    plan = TrialPlan(sweep_dir=str(sweep_dir), **plan_args)
    plan.save(sweep_dir / PLAN_FILE)
    return sweep_dir


def _budget(sweep: Sweep) -> int | None:
    """The validations after which the scheduler stops every trial (ASHA's ``max_t``), if any."""
    return sweep.scheduler.max_t if sweep.scheduler.name == "asha" else None


def report(grid: Any, sweep: Sweep, sweep_dir: Path) -> list[results.TrialRow]:
    budget = _budget(sweep)
    statuses = results.saved_statuses(sweep_dir / TUNE_DIR)
    rows = results.collect(grid, sweep.metric, sweep.mode, sweep_dir, statuses, budget)
    csv_path = results.write_csv(rows, sweep.metric, sweep_dir / "results.csv")
    failed = sum(r.status == "failed" for r in rows)
    print(f"\nsweep {sweep.name}: {len(rows)} trials, {failed} failed ({sweep_dir})")
    print(f"results: {csv_path}")
    best = results.write_best(rows, sweep_dir)
    if best is not None:
        config, checkpoint = best
        print(f"best config: {config}  (train it: seqlab fit --config {config})")
        print(f"best checkpoint: {checkpoint or 'none saved'}")
    unfinished = [r for r in rows if r.status == "unfinished"]
    if unfinished:
        print(f"{len(unfinished)} trials unfinished: resume with `seqlab tune --resume {sweep_dir}`")
    print(results.table(rows, sweep.metric), flush=True)  # last, so that it stays on the screen
    return rows


def _resumed(resume: str) -> tuple[Sweep, Path, TrialPlan]:
    """The sweep, directory and trial plan of an interrupted sweep."""
    sweep_dir = Path(resume).resolve()
    if not (sweep_dir / PLAN_FILE).is_file():
        raise SweepError(f"{sweep_dir}: not a sweep directory (no {PLAN_FILE})")
    return load_sweep(sweep_dir / SWEEP_FILE), sweep_dir, TrialPlan.load(sweep_dir / PLAN_FILE)


def _started(args: argparse.Namespace, extra_args: list[str]) -> tuple[Sweep, Path, TrialPlan]:
    """A new sweep: the experiment and sweep files checked (before Ray starts), its directory made and
    its trial plan saved there."""
    experiment = Path(args.config).resolve()
    if not experiment.is_file():
        raise FileNotFoundError(f"{args.config}: no such experiment config")
    if (problem := config_file_problem(args.config)) is not None:
        raise ConfigError(problem)  # names the file and line, where jsonargparse says "<unicode string>"
    sweep = load_sweep(args.sweep)
    check_experiment(experiment, sweep, extra_args)
    if sweep.scheduler.name == "pbt" and sweep.resources.workers > 1:
        raise SweepError(f"{args.sweep}: scheduler pbt needs resources.workers 1 (it restores checkpoints)")
    plan_args = {
        "experiment": str(experiment),
        "group": sweep.name,
        "metric": sweep.metric,
        "overrides": sweep.overrides,
        "extra_args": extra_args,
        "workers": sweep.resources.workers,
        "cpu": sweep.resources.cpu,
        "gpu": sweep.resources.gpu,
        "checkpoints": sweep.scheduler.name == "pbt",
    }
    sweep_dir = new_sweep_dir(args.root_dir, sweep, experiment, plan_args, Path(args.sweep))
    return sweep, sweep_dir, TrialPlan.load(sweep_dir / PLAN_FILE)


def _tuner(plan: TrialPlan, sweep: Sweep, sweep_dir: Path, resume: bool) -> Any:
    """Ray Tune's tuner for the sweep: restored from its ``tune/`` state, or new."""
    from ray import tune

    trainable = _trainable(plan)
    if resume:
        return tune.Tuner.restore(str(sweep_dir / TUNE_DIR), trainable, resume_unfinished=True)
    optuna = sweep.search.algorithm == "optuna"  # the other search takes the limit itself (see _search)
    tune_config = tune.TuneConfig(
        metric=sweep.metric,
        mode=sweep.mode,
        search_alg=_search(sweep),
        scheduler=_scheduler(sweep),
        num_samples=sweep.num_samples,
        max_concurrent_trials=sweep.max_concurrent_trials if optuna else None,
        time_budget_s=sweep.time_budget_s,
        trial_dirname_creator=lambda trial: trial.trial_id,
    )
    return tune.Tuner(
        trainable,
        param_space=_space(sweep),
        tune_config=tune_config,
        run_config=_run_config(sweep, sweep_dir),
    )


def run_sweep(args: argparse.Namespace, extra_args: list[str]) -> list[results.TrialRow]:
    """Start (or resume) the sweep ``args`` name (``cli.tune_parser``), run it to the end and report
    its trials; ``extra_args`` go to every trial's fit."""
    if args.resume:
        sweep, sweep_dir, plan = _resumed(args.resume)
    else:
        sweep, sweep_dir, plan = _started(args, extra_args)
    print(start_line(sweep, sweep_dir, bool(args.resume)), flush=True)
    init_ray(args.address)
    grid = _tuner(plan, sweep, sweep_dir, bool(args.resume)).fit()
    return report(grid, sweep, sweep_dir)
