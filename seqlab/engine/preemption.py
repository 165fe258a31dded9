"""Preemption: a cluster's stop signal ends the run after the current batch with a complete
``last.ckpt``, so rerunning the same command with ``--ckpt_path last`` continues exactly where it
stopped (weights, optimizer, scheduler, random number generators, data position, carried hidden
state, W&B run).

Signals handled:

- SIGTERM: Kubernetes pod deletion, Ray worker shutdown, ``scontrol requeue``, SLURM preemption.
  Lightning turns it into a ``SIGTERMException`` after the current batch, on every DDP rank together.
- SIGUSR1: SLURM's warning before the time limit (``#SBATCH --signal=USR1@90``). Routed to the same
  path, after which rank 0 requeues the job (after SIGTERM, SLURM requeues the job itself). This
  replaces Lightning's own SIGUSR1 handler, which saves ``hpc_ckpt`` files from inside the signal
  handler, in the middle of a step.

A checkpoint is never written mid-step: the state always equals that between two batches.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM: what schedulers expect from a job stopped by SIGTERM


def slurm_job_id() -> str | None:
    """The id ``scontrol requeue`` takes for this SLURM job (array jobs: ``<job>_<task>``)."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job:
        return f"{array_job}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    return os.environ.get("SLURM_JOB_ID")


def requeue_slurm_job(job_id: str) -> bool:
    """Ask SLURM to put the job back in the queue; True when ``scontrol`` accepted."""
    if not re.fullmatch(r"[0-9]+(_[0-9]+)?", job_id):
        message, ok = f"not requeueing: {job_id!r} is not a SLURM job id", False
    else:
        try:
            result = subprocess.run(
                ["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=60
            )
            ok = result.returncode == 0
            message = f"requeued SLURM job {job_id}" if ok else f"scontrol requeue {job_id}: {result.stderr}"
        except (OSError, subprocess.TimeoutExpired) as err:
            message, ok = f"could not requeue SLURM job {job_id}: {err}", False
    print(f"seqlab: {message.strip()}", file=sys.stderr, flush=True)
    return ok


class Preemption(Callback):
    """Saves ``last.ckpt`` when a stop signal ends training, and requeues a SLURM job after SIGUSR1.

    ``checkpoint`` is the callback whose ``last.ckpt`` resuming reads (see
    :func:`seqlab.engine.callbacks.checkpoint_callback`).
    """

    def __init__(self, checkpoint: Any) -> None:
        self.checkpoint = checkpoint
        self.requeue = False
        self._previous: Any = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Registered before Lightning installs its signal handlers, which then leave SIGUSR1 to us.
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR1, self._on_warning)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, self._previous)
            self._previous = None

    def _on_warning(self, signum: int, frame: FrameType | None) -> None:
        self.requeue = slurm_job_id() is not None
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's path: stop after this batch, on all ranks

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != TrainerFn.FITTING:
            return  # a crash mid-step leaves the last good checkpoint alone
        self.checkpoint.save_last_now(trainer)
        if trainer.is_global_zero:
            print(
                f"seqlab: stopped by a signal after step {trainer.global_step}; "
                f"{self.checkpoint.last_model_path} holds it: rerun the same command with "
                "`--ckpt_path last` to continue",
                file=sys.stderr,
                flush=True,
            )
            job = slurm_job_id()
            if self.requeue and job is not None:
                requeue_slurm_job(job)
