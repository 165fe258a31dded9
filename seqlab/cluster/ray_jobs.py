"""Ray Jobs: submit ``seqlab fit`` to a Ray cluster through the Jobs API (``ray[default]``), follow
its logs, ask its status, stop it.

The job runs in a copy of the working directory that Ray uploads (``runtime_env.working_dir``,
without virtual environments, runs and caches) with the given pip requirements installed. Its
entrypoint is built from an argument list (``shlex.join``), so no value can inject shell code.
"""

from __future__ import annotations

import shlex
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.cluster.secrets import mask_secrets

# Never uploaded with the working directory: environments, outputs, caches, VCS data.
EXCLUDES = [".venv", "venv", "runs", ".git", "**/__pycache__", ".cache", "wandb", "*.ckpt", ".pytest_cache"]
FINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class RayJobError(RuntimeError):
    """The Ray cluster refused or could not be reached; the message says which address and why."""


@dataclass(frozen=True)
class RayJobResources:
    """What a Ray job holds: one node's GPUs and CPUs, or Ray Train workers anywhere in the cluster.

    Args:
        gpus: GPUs of the job's node (DDP across them).
        cpus: CPUs reserved for the job.
        num_workers: Ray Train workers (0: one process).
        gpus_per_worker: GPUs of each Ray Train worker.
        cpus_per_worker: CPUs of each Ray Train worker.
    """

    gpus: int = 0
    cpus: float = 1
    num_workers: int = 0
    gpus_per_worker: float = 0
    cpus_per_worker: float = 1

    def problem(self) -> str | None:
        """What is wrong with these numbers, or None."""
        if (
            min(self.gpus, self.num_workers, self.gpus_per_worker) < 0
            or min(self.cpus, self.cpus_per_worker) <= 0
        ):
            return "need gpus, num_workers, gpus_per_worker >= 0 and cpus, cpus_per_worker > 0"
        return None


def client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as err:  # Ray raises ConnectionError, RuntimeError or its own types here
        raise RayJobError(f"cannot reach the Ray Jobs API at {address}: {err}") from None


def runtime_env(working_dir: Path, requirements: str | None, env_vars: dict[str, str]) -> dict[str, Any]:
    env: dict[str, Any] = {"working_dir": str(working_dir), "excludes": EXCLUDES, "env_vars": env_vars}
    if requirements:
        path = Path(requirements)
        if not path.is_file():
            raise RayJobError(f"{requirements}: no such requirements file")
        env["pip"] = [line.strip() for line in path.read_text().splitlines() if line.strip()[:1] not in "#"]
    return env


def submit(
    address: str,
    command: list[str],
    working_dir: Path,
    requirements: str | None,
    num_cpus: float,
    num_gpus: float,
    env_vars: dict[str, str],
    submission_id: str | None = None,
) -> str:
    """Submit ``command`` as a Ray job; returns its submission id."""
    submission_id = submission_id or f"seqlab-{uuid.uuid4().hex[:10]}"
    try:
        return client(address).submit_job(
            entrypoint=shlex.join(command),
            submission_id=submission_id,
            runtime_env=runtime_env(working_dir, requirements, env_vars),
            entrypoint_num_cpus=num_cpus,
            entrypoint_num_gpus=num_gpus,
            metadata={"submitted_by": "seqlab"},
        )
    except RayJobError:
        raise
    except Exception as err:
        raise RayJobError(f"Ray at {address} refused the job: {err}") from None


def status(address: str, job_id: str) -> dict[str, Any]:
    info = client(address).get_job_info(job_id)
    return {
        "submission_id": job_id,
        "status": str(info.status.value if hasattr(info.status, "value") else info.status),
        "message": info.message,
        "entrypoint": info.entrypoint,
        "start_time": info.start_time,
        "end_time": info.end_time,
    }


def follow_logs(address: str, job_id: str, follow: bool, poll_seconds: float = 1.0) -> str:
    """Print the job's logs (all of them, then new lines until it ends when ``follow``); returns the
    final status."""
    jobs = client(address)
    shown = 0
    while True:
        state = str(jobs.get_job_status(job_id).value)
        text = jobs.get_job_logs(job_id)
        sys.stdout.write(mask_secrets(text[shown:]))
        sys.stdout.flush()
        shown = len(text)
        if not follow or state in FINAL:
            return state
        time.sleep(poll_seconds)


def stop(address: str, job_id: str) -> bool:
    return bool(client(address).stop_job(job_id))
