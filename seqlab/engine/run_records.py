"""What a training command records, and where: the run directory (new, or the checkpoint's), the
evaluation directory of ``validate``/``test``, the run's ``status.json``, the W&B artifacts and the
summary printed at the end. Undoes its directories after a failed start (no empty ``version_N``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from seqlab.engine import run_dir as runs
from seqlab.engine.errors import UserError
from seqlab.engine.fit_lock import FitLock, holder
from seqlab.engine.loggers import WandbSettings, finish_wandb, log_artifact, tokenizer_files
from seqlab.engine.run_status import current_state, read_status, write_status


def launched_as_rank_zero() -> bool:
    """Whether this process is rank 0 as launched (before any Trainer exists to say so): Lightning's
    DDP children, torchrun and srun tell their processes their rank in the environment."""
    return all(os.environ.get(key, "0") == "0" for key in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


def refuse_a_second_fit(run_dir: Path, ckpt_path: str | None) -> None:
    """A fit told ``--run.dir`` of a run that has checkpoints must continue that run: a new fit there
    would overwrite its ``status.json``, append to its ``metrics.csv`` and leave two runs' checkpoints
    side by side (Lightning only names the second ``last-v1.ckpt``)."""
    held = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
    if not held or (ckpt_path and runs.run_dir_of_checkpoint(Path(ckpt_path)) == run_dir):
        return
    shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
    raise UserError(
        f"--run.dir {run_dir} already holds a fit (checkpoints/{shown}): continue it with --ckpt_path last, "
        "or give another --run.dir (without one, each fit gets a new version_N)"
    )


def being_trained(run_dir: Path, pid: Any) -> UserError:
    """The error for a fit into a run directory that another live fit on this host trains."""
    return UserError(
        f"{runs.shown(run_dir)} is being trained by process {pid} on this host: wait for it to finish "
        f"or stop it (kill {pid}: it saves last.ckpt), then resume"
    )


def refuse_a_running_fit(run_dir: Path) -> None:
    """Where the run directory cannot be locked (see engine.fit_lock): the pid in ``status.json``. Two
    fits in one run directory would interleave their checkpoints, metrics and status. A fit on
    another host cannot be checked (a requeued cluster job must be able to take over from a dead node)."""
    status = read_status(run_dir)
    pid = status.get("pid")
    elsewhere = status.get("host") != socket.gethostname()
    if elsewhere or pid == os.getpid() or current_state(status, run_dir) != "running":
        return
    raise being_trained(run_dir, pid)


class RunRecords:
    """The directories one command records into, and the ones it created (to remove on failure)."""

    def __init__(self) -> None:
        self.created: list[tuple[Path, bool, str | None]] = []  # (dir, moved `latest`, its old target)
        self.lock = FitLock()

    def choose(self, run: Any, ckpt_path: str | None, verb: str) -> tuple[Path, Path]:
        """The run directory and the one this command records into. A fit records into its run
        directory (new, or the checkpoint's when resuming); ``validate`` and ``test`` of an existing
        run into ``<run>/evals/<verb>-<n>``, leaving the fit's files alone."""
        inherited = os.environ.get(runs.RUN_DIR_ENV)
        rank_zero = launched_as_rank_zero()
        if inherited and not rank_zero:  # a DDP child joins rank 0's run
            return Path(inherited), Path(os.environ.get(runs.LOG_DIR_ENV) or inherited)
        if verb == "fit" and run.dir:
            refuse_a_second_fit(Path(run.dir).resolve(), ckpt_path)
        run_dir, created, owns_latest = self._run_dir(run, ckpt_path)
        if verb == "fit" and rank_zero:  # (refused before `created` is recorded: the holder owns it)
            locked = self.lock.take(run_dir)
            if locked is False:
                raise being_trained(run_dir, (holder(run_dir) or ("?",))[0])
            if run.dir:  # again: a fit that held the lock while this one waited for it may have ended
                refuse_a_second_fit(run_dir, ckpt_path)
            if locked is None and not created:  # no lock here: the recorded pid must do
                refuse_a_running_fit(run_dir)
        evaluation = verb != "fit" and not created
        if not rank_zero:  # started on its own (srun): only rank 0 records, into what it chooses
            return run_dir, run_dir
        moved, previous = False, runs.read_latest(run_dir.parent)
        if owns_latest and not evaluation:
            runs.point_latest(run_dir)
            moved = True
        if created:
            self.created.append((run_dir, moved, previous))
        log_dir = run_dir
        if evaluation:
            log_dir = runs.new_eval_dir(run_dir, verb)
            self.created.append((log_dir, False, None))
        records = "config, metrics, checkpoints and status" if verb == "fit" else "config and metrics"
        runs.check_writable(log_dir, f"{verb} writes its {records} there")
        os.environ[runs.RUN_DIR_ENV], os.environ[runs.LOG_DIR_ENV] = str(run_dir), str(log_dir)
        return run_dir, log_dir

    @staticmethod
    def _run_dir(run: Any, ckpt_path: str | None) -> tuple[Path, bool, bool]:
        """The run directory, whether it was created now, and whether it owns ``<name>/latest``."""
        if run.dir:
            run_dir = Path(run.dir).resolve()
            created = not run_dir.is_dir()
            with runs.writing(run_dir, "creating it"):
                run_dir.mkdir(parents=True, exist_ok=True)  # every rank of a cluster job may try
            return run_dir, created, run_dir.parent == (Path(run.root_dir) / run.name).resolve()
        found = runs.run_dir_of_checkpoint(Path(ckpt_path)) if ckpt_path else None
        if found is None or not found.is_dir():
            return runs.new_run_dir(run.root_dir, run.name), True, True
        return found, False, True

    def discard_new(self, loggers: Iterable[Logger] = ()) -> None:
        """After a failure: remove the directories this command created that hold no results (a failed
        start leaves no empty version_N), and point ``latest`` back where it was. The W&B runs among
        ``loggers`` are finished first (their files are about to go)."""
        if not self.created or not launched_as_rank_zero():
            return
        doomed = [entry for entry in self.created if not runs.holds_results(entry[0])]
        if doomed:
            finish_wandb(loggers, exit_code=1, best_effort=True)
        for directory, moved, previous in reversed(doomed):
            runs.discard(directory)
            if moved:
                runs.restore_latest(directory, previous)
            if runs.is_eval_dir(directory):
                with contextlib.suppress(OSError):
                    directory.parent.rmdir()  # only if no other evaluation is there
            for env in (runs.RUN_DIR_ENV, runs.LOG_DIR_ENV):
                if os.environ.get(env) == str(directory):
                    del os.environ[env]
        self.created = []

    def release(self) -> None:
        """At the end of the command: let the next fit into the run directory."""
        self.lock.release()


@contextlib.contextmanager
def fit_status(run_dir: Path, trainer: L.Trainer, model: L.LightningModule, name: str) -> Iterator[None]:
    """Record the fit's outcome in the run's ``status.json`` (see engine.run_status): ``running``
    now, ``stopped`` or ``failed`` if the fit inside ends by an exception (``after_fit`` records
    the normal end)."""
    write_status(
        run_dir,
        "running",
        # a resumed run keeps its name, whichever config resumed it
        name=read_status(run_dir).get("name") or name,
        task=f"{type(model).__module__}.{type(model).__qualname__}",
        monitor=getattr(model, "monitor", "val/loss"),
        mode=getattr(model, "monitor_mode", "min"),
    )
    try:
        yield
    except (SIGTERMException, KeyboardInterrupt):
        write_status(run_dir, "stopped", step=trainer.global_step)
        raise
    except SystemExit as exit_:  # code 0: a sweep's scheduler stopped this trial (tune.report)
        state = "stopped" if exit_.code in (0, None) else "failed"
        write_status(run_dir, state, step=trainer.global_step)
        raise
    except BaseException as err:
        message = str(err) if isinstance(err, UserError) else repr(err)  # the words the user sees
        write_status(run_dir, "failed", step=trainer.global_step, error=message[:500])
        raise


def record_fit_end(trainer: L.Trainer, run_dir: Path, wandb: WandbSettings) -> None:
    """On rank 0 after a fit: the summary, the final status, and the W&B artifacts."""
    print_summary(trainer, run_dir)
    best = trainer.checkpoint_callback
    score = getattr(best, "best_model_score", None)
    write_status(
        run_dir,
        "stopped" if trainer.interrupted else "finished",
        step=trainer.global_step,
        best=None if score is None else float(score),
        best_checkpoint=getattr(best, "best_model_path", None) or None,
    )
    log_artifacts(trainer, run_dir, wandb)


def log_artifacts(trainer: L.Trainer, run_dir: Path, settings: WandbSettings) -> None:
    """Tokenizers (``run.wandb.log_tokenizer``), and checkpoints of offline runs (``log_model``;
    online, Lightning's WandbLogger uploads them itself)."""
    datamodule = trainer.datamodule
    for logger in trainer.loggers:
        if not isinstance(logger, WandbLogger):
            continue
        if settings.log_tokenizer and datamodule is not None:
            files = tokenizer_files(datamodule.state_dict(), run_dir / "tokenizers")
            log_artifact(logger, "tokenizer", files)
        if settings.log_model and settings.mode == "offline":
            names = ("best.ckpt", "last.ckpt")
            log_artifact(logger, "model", [p for n in names if (p := run_dir / "checkpoints" / n).is_file()])


def print_summary(trainer: L.Trainer, run_dir: Path) -> None:
    """The run directory, the final validation metrics, the best checkpoint, how to upload to W&B."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    print(f"\nrun directory: {run_dir}")
    if metrics:
        print("final validation: " + "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
    best = trainer.checkpoint_callback
    if best is not None and best.best_model_path:
        score = (
            f" ({best.monitor}={float(best.best_model_score):.4f})"
            if best.best_model_score is not None
            else ""
        )
        print(f"best checkpoint: {best.best_model_path}{score}")
    wandb_dir = run_dir / "wandb"
    if wandb_dir.is_dir() and any(wandb_dir.glob("offline-run-*")):
        print(f"W&B (offline): upload with `wandb sync {wandb_dir}/offline-run-*`")
