"""One Tune trial is one ordinary ``seqlab fit`` (the same CLI, no second training loop), with the
trial's point of the search space as command-line overrides and :class:`ReportToTune` added.

Every trial has a fixed run directory, ``<sweep dir>/trials/<trial id>``, and starts with
``--ckpt_path last``: a retried trial, or one of an interrupted sweep that is resumed, continues from
its own ``last.ckpt``. PBT hands a trial another trial's checkpoint instead (``tune.get_checkpoint``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqlab.console import output_into
from seqlab.tune.report import CHECKPOINT_FILE, STOPPED_MARKER

REPORT_CALLBACK = "seqlab.tune.report.ReportToTune"
LOG_FILE = "trial.log"  # in the trial's run directory: everything the trial's process prints


@dataclass
class TrialPlan:
    """What every trial of a sweep needs to build its ``seqlab fit`` (sent to Ray, so plain data).

    Attributes:
        experiment: absolute path of the experiment YAML.
        sweep_dir: the sweep's directory.
        group: W&B group shared by the sweep's trials.
        metric: the metric reported to Tune.
        overrides: dotted key -> value for every trial.
        extra_args: further ``seqlab fit`` arguments given after ``--``.
        workers: processes per trial (more than 1: DDP on Ray Train).
        cpu: CPUs per worker.
        gpu: GPUs per worker.
        checkpoints: report checkpoints to Tune (PBT).
    """

    experiment: str
    sweep_dir: str
    group: str
    metric: str
    overrides: dict[str, Any] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    workers: int = 1
    cpu: float = 1.0
    gpu: float = 0.0
    checkpoints: bool = False

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TrialPlan:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def override_args(values: dict[str, Any]) -> list[str]:
    """``--key=value`` arguments that jsonargparse reads back with their types: numbers, lists and
    null as JSON, strings bare (a quoted string does not match a ``Literal``) unless bare they would
    read as something else (``"null"``, ``"1e-3"``)."""
    return [f"--{key}={_cli_value(value)}" for key, value in values.items()]


def _cli_value(value: Any) -> str:
    if isinstance(value, str):
        try:
            bare_is_string = yaml.safe_load(value) == value
        except yaml.YAMLError:
            bare_is_string = False
        return value if bare_is_string else json.dumps(value)
    return json.dumps(value)


def learning_rate(point: dict[str, Any]) -> float | None:
    """The sampled optimizer learning rate, if the sweep searches one."""
    for key, value in point.items():
        if key.endswith("optimizer.init_args.lr"):
            return float(value)
    return None


def fit_args(plan: TrialPlan, point: dict[str, Any], run_dir: Path, ckpt_path: str = "last") -> list[str]:
    """The ``seqlab fit`` arguments of one trial (without the ``fit`` verb): the experiment, the sweep's
    overrides, the arguments given after ``--``, the trial's point, then the trial's own settings."""
    report = {
        "class_path": REPORT_CALLBACK,
        "init_args": {
            "metric": plan.metric,
            "checkpoints": plan.checkpoints,
            "lr": learning_rate(point) if plan.checkpoints else None,
            "via_train": plan.workers > 1,
        },
    }
    return [
        "--config",
        plan.experiment,
        *override_args(plan.overrides),
        *plan.extra_args,
        *override_args(point),  # last: the sampled point wins over everything else
        f"--run.dir={run_dir}",
        f"--ckpt_path={ckpt_path}",
        f"--run.wandb.group={plan.group}",
        "--trainer.enable_progress_bar=false",
        f"--trainer.callbacks+={json.dumps(report)}",
    ]


def trial_run_dir(sweep_dir: str | Path, trial_id: str) -> Path:
    return Path(sweep_dir) / "trials" / trial_id


def run_trial(point: dict[str, Any], plan: TrialPlan) -> None:
    """The Tune trainable: fit the experiment at ``point``, its output going to the trial's log."""
    from ray import tune

    run_dir = trial_run_dir(plan.sweep_dir, tune.get_context().get_trial_id())
    run_dir.mkdir(parents=True, exist_ok=True)
    with output_to(run_dir / LOG_FILE):
        try:
            _run_trial(point, plan, run_dir)
        except Exception:
            traceback.print_exc()  # the log then holds the whole story; Tune keeps the error too
            raise


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """This process's standard output and error (file descriptors, so that C libraries and child
    processes follow) appended to ``path`` while the block runs: a sweep's console then shows Tune's
    one line per trial, not every trial's Lightning and W&B messages."""
    with open(path, "a", encoding="utf-8") as log, output_into(log):
        yield


def _last_error(log: Path) -> str:
    """The last ``seqlab: error:`` line the trial's fit printed (its one-line reason), if any."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    return next((line for line in reversed(lines) if line.startswith("seqlab: error:")), "")


def _run_trial(point: dict[str, Any], plan: TrialPlan, run_dir: Path) -> None:
    import torch
    from ray import tune

    trial_id = run_dir.name
    (run_dir / STOPPED_MARKER).unlink(missing_ok=True)  # it speaks for the latest start only
    ckpt_path = "last"
    given = tune.get_checkpoint()
    if given is not None:  # PBT exploitation, or a restore: start from the checkpoint Tune holds
        checkpoints = run_dir / "checkpoints"
        # The trial's own checkpoints belong to the state being replaced (and left in place they
        # would make Lightning write best-v1.ckpt, last-v1.ckpt, ... beside them).
        shutil.rmtree(checkpoints, ignore_errors=True)
        checkpoints.mkdir(parents=True)
        ckpt_path = str(checkpoints / "from_tune.ckpt")
        with given.as_directory() as folder:
            shutil.copyfile(Path(folder) / CHECKPOINT_FILE, ckpt_path)
    args = fit_args(plan, point, run_dir, ckpt_path)
    (run_dir / "trial_args.json").write_text(json.dumps(args, indent=1) + "\n", encoding="utf-8")
    if plan.workers > 1:
        try:
            _fit_on_ray_train(plan, args, trial_id)
        except SystemExit:  # the scheduler stopped the trial while Ray Train ran it
            (run_dir / STOPPED_MARKER).write_text("ray train\n")
            raise
        return
    torch.set_num_threads(max(1, int(plan.cpu)))
    import seqlab.tasks  # noqa: F401  (the task classes, for the config's class_path, as `seqlab fit`)
    from seqlab.engine.training_cli import run_training

    try:
        run_training(["fit", *args])
        last = run_dir / "checkpoints" / "last.ckpt"
        if ckpt_path != "last" and not last.is_file():  # restored at the end: nothing left to train
            os.replace(ckpt_path, last)
    except SystemExit as exit_:  # a user error exits; Tune must record it as the trial's failure
        sys.stderr.flush()
        reason = _last_error(run_dir / LOG_FILE) or f"seqlab fit exited with status {exit_.code}"
        raise RuntimeError(reason) from None
    finally:
        import wandb

        # A finished fit has shut W&B down already (engine.loggers.finish_wandb); after a failure a run
        # may be left open: end it now, while the service still answers (not at the worker's exit).
        wandb.teardown()


def _fit_on_ray_train(plan: TrialPlan, args: list[str], trial_id: str) -> None:
    """A multi-worker trial: ``plan.workers`` DDP processes on Ray Train, reporting back to this trial."""
    from ray.tune.integration.ray_train import TuneReportCallback

    from seqlab.cluster.ray_train import fit_trainer

    storage = str(Path(plan.sweep_dir).resolve() / "ray_train")
    trainer = fit_trainer(
        args, plan.workers, plan.gpu, plan.cpu, trial_id, storage, callbacks=[TuneReportCallback()]
    )
    trainer.fit()
