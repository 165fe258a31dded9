"""``seqlab submit slurm|ray|k8s`` and ``seqlab jobs``: put a training run on a cluster with one command.

A submitted job is bound to one run directory (SLURM: ``runs/<name>/version_N``, created at
submission, where the job script, the scheduler's log and ``job.json`` live; Ray:
``<root_dir>/<name>/<submission id>`` on the cluster's file system), and its command is
``seqlab fit --config C --run.dir <that directory> --ckpt_path last ...``, so every restart after a
preemption, requeue or retry resumes from the directory's own ``last.ckpt``.

Secrets (API keys, tokens, passwords; see :mod:`seqlab.cluster.secrets`) are masked in everything
printed, and a job script or manifest that would hold one in clear text is refused: they reach the job
through its environment instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from seqlab.cluster import kuberay, ray_jobs, slurm
from seqlab.cluster.secrets import mask_env, mask_secrets, refuse_secrets
from seqlab.engine import run_dir as runs


def _run_name(config: Path) -> str:
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(f"seqlab submit: cannot read the experiment config {config}: {err}") from None
    name = (loaded.get("run") or {}).get("name") if isinstance(loaded, dict) else None
    return str(name or "default")


def fit_command(
    python: str, config: str | Path, run_dir: str | Path, trainer_args: list[str], extra: list[str]
) -> list[str]:
    """The ``seqlab fit`` argument list every start of the job runs."""
    return [
        python,
        "-m",
        "seqlab",
        "fit",
        "--config",
        str(config),
        f"--run.dir={run_dir}",
        "--ckpt_path=last",
        *trainer_args,
        *extra,
    ]


def submit_slurm(
    config: str,
    job: slurm.SlurmResources,
    fit_args: list[str] | None = None,
    run_name: str | None = None,
    root_dir: str = "runs",
    python: str = sys.executable,
    dry_run: bool = False,
) -> str | None:
    """Write the batch script into a new run directory and submit it; returns the job id.

    With ``dry_run`` the script is printed and nothing is created or submitted.
    """
    config_path = Path(config).resolve()
    if not config_path.is_file():
        raise SystemExit(f"seqlab submit: {config}: no such experiment config")
    name = run_name or _run_name(config_path)
    if dry_run:  # where the job would go, without creating it
        run_dir = (Path(root_dir) / name / f"version_{runs.next_version(root_dir, name)}").resolve()
    else:
        run_dir = runs.new_run_dir(root_dir, name).resolve()
    command = fit_command(python, config_path, run_dir, job.trainer_args(), list(fit_args or []))
    output = run_dir / "slurm-%j.out"
    try:
        script = slurm.render_script(job, command, f"seqlab-{name}", output, Path.cwd())
    except ValueError as err:
        if not dry_run:
            run_dir.rmdir()
        raise SystemExit(f"seqlab submit slurm: {err}") from None
    if dry_run:
        print(mask_secrets(script), end="")
        return None
    try:
        refuse_secrets(
            script,
            "the batch script (a `setup` line or a fit argument)",
            "export the variable in the shell that runs `seqlab submit` (sbatch passes the environment on "
            "to the job) and refer to it as $NAME if a setup line needs it",
        )
    except SystemExit:
        run_dir.rmdir()
        raise
    path = run_dir / "job.sbatch"
    path.write_text(script, encoding="utf-8")
    job_id = slurm.sbatch(path)
    log = run_dir / f"slurm-{job_id}.out"
    record = {"backend": "slurm", "job_id": job_id, "script": str(path), "log": str(log), "command": command}
    (run_dir / "job.json").write_text(mask_secrets(json.dumps(record, indent=2)) + "\n", encoding="utf-8")
    print(f"submitted SLURM job {job_id}; run directory {run_dir}")
    print(f"  follow:  seqlab jobs logs slurm {job_id} --follow true   (or tail -f {log})")
    print(f"  status:  seqlab jobs status slurm {job_id}")
    print(f"  stop:    seqlab jobs stop slurm {job_id}")
    return job_id


def slurm_status(job_id: str) -> dict[str, Any]:
    """State, restarts, run time and log path of a SLURM job."""
    fields = slurm.job_fields(job_id)
    keys = ("JobId", "JobName", "JobState", "Reason", "Restarts", "RunTime", "NodeList", "StdOut")
    return {k: fields.get(k) for k in keys}


def slurm_logs(job_id: str, follow: bool = False, poll_seconds: float = 1.0) -> None:
    """Print the job's output; with ``follow``, keep printing until the job ends."""
    log = Path(slurm.job_fields(job_id)["StdOut"].replace("%j", job_id))
    offset = 0
    while True:
        done = not follow or slurm.job_fields(job_id)["JobState"] in _FINAL  # before reading: no tail lost
        if log.is_file():
            with log.open("r", encoding="utf-8", errors="replace") as file:
                file.seek(offset)
                chunk = file.read()
                offset = file.tell()
            print(mask_secrets(chunk), end="", flush=True)
        if done:
            return
        time.sleep(poll_seconds)


_FINAL = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
}


# Passed on to Ray jobs when set here (a Ray job does not inherit the submitting shell's variables).
_FORWARDED_ENV = ("WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_API_KEY", "HF_HUB_OFFLINE",
                  "HF_DATASETS_OFFLINE", "SEQLAB_CACHE")  # fmt: skip


def submit_ray(
    config: str,
    address: str,
    fit_args: list[str] | None = None,
    gpus: int = 0,
    cpus: float = 1,
    num_workers: int = 0,
    gpus_per_worker: float = 0,
    cpus_per_worker: float = 1,
    working_dir: str = ".",
    requirements: str | None = None,
    run_name: str | None = None,
    root_dir: str = "runs",
    python: str = sys.executable,
    follow: bool = False,
    dry_run: bool = False,
) -> str | None:
    """Submit ``seqlab fit`` through the Ray Jobs API; returns the submission id.

    With ``num_workers`` 0 the job trains on one node with ``gpus`` GPUs (DDP across them) or on
    CPU; with ``num_workers`` N, Ray Train runs N workers of ``gpus_per_worker`` GPUs and
    ``cpus_per_worker`` CPUs anywhere in the cluster, DDP across all of them. ``config`` must lie
    inside ``working_dir``, which Ray uploads; a relative ``root_dir`` is relative to the job's copy
    of it on the node, so name shared storage to keep runs.
    """
    work = Path(working_dir).resolve()
    config_path = Path(config).resolve()
    if not config_path.is_file():
        raise SystemExit(f"seqlab submit ray: {config}: no such experiment config")
    if not config_path.is_relative_to(work):
        raise SystemExit(f"seqlab submit ray: {config} is not inside the working directory {work}")
    if gpus < 0 or cpus <= 0 or num_workers < 0 or gpus_per_worker < 0 or cpus_per_worker <= 0:
        raise SystemExit(
            "seqlab submit ray: need gpus, num_workers, gpus_per_worker >= 0 and cpus, cpus_per_worker > 0"
        )
    name = run_name or _run_name(config_path)
    submission_id = f"seqlab-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{uuid.uuid4().hex[:8]}"
    run_dir = f"{root_dir}/{name}/{submission_id}"
    config_rel = config_path.relative_to(work)
    if num_workers:
        fit = fit_command(python, config_rel, run_dir, [], list(fit_args or []))[4:]  # after `fit`
        command = [python, "-m", "seqlab.cluster.ray_train", f"--num_workers={num_workers}",
                   f"--gpus_per_worker={gpus_per_worker}", f"--cpus_per_worker={cpus_per_worker}",
                   f"--storage_path={run_dir}/ray_train", f"--name={submission_id}", "--", *fit]  # fmt: skip
        cpus, gpus = 0, 0  # the entrypoint only drives the workers, which hold the resources
    else:
        command = fit_command(python, config_rel, run_dir, _gpu_trainer_args(gpus), list(fit_args or []))
    env_vars = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    if dry_run:  # what would be sent, secrets masked (the real submission sends them to the job)
        spec = {
            "submission_id": submission_id,
            "entrypoint": command,
            "runtime_env": ray_jobs.runtime_env(work, requirements, mask_env(env_vars)),
            "entrypoint_num_cpus": cpus,
            "entrypoint_num_gpus": gpus,
        }
        print(mask_secrets(json.dumps(spec, indent=2)))
        return None
    job_id = ray_jobs.submit(address, command, work, requirements, cpus, gpus, env_vars, submission_id)
    print(f"submitted Ray job {job_id} to {address}; run directory {run_dir} (on the cluster)")
    print(f"  follow:  seqlab jobs logs ray {job_id} --address {address} --follow true")
    print(f"  status:  seqlab jobs status ray {job_id} --address {address}")
    print(f"  stop:    seqlab jobs stop ray {job_id} --address {address}")
    if follow:
        state = ray_jobs.follow_logs(address, job_id, follow=True)
        print(f"Ray job {job_id}: {state}")
        if state != "SUCCEEDED":
            raise SystemExit(1)
    return job_id


def submit_k8s(
    config: str,
    pod: kuberay.PodResources,
    fit_args: list[str] | None = None,
    run_name: str | None = None,
    python: str = "python",
    output: str | None = None,
    dry_run: bool = False,
) -> str:
    """Write (or with ``dry_run`` print) a KubeRay RayJob manifest; returns its text.

    ``config`` is the experiment's path inside the image, relative to the image's working
    directory; when it also exists here, the run name is read from it.
    """
    local = Path(config)
    name = run_name or (_run_name(local) if local.is_file() else None)
    if name is None:
        raise SystemExit(f"seqlab submit k8s: {config} is not here to read run.name from; give --run_name")
    job = kuberay.job_name(name, uuid.uuid4().hex[:8])
    root = f"{pod.mount}/runs" if pod.pvc else "runs"
    command = fit_command(
        python, config, f"{root}/{name}/{job}", _gpu_trainer_args(pod.gpus), list(fit_args or [])
    )
    env_vars = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ and k != "WANDB_API_KEY"}
    try:
        text = kuberay.manifest(kuberay.rayjob(pod, job, command, env_vars))
    except ValueError as err:
        raise SystemExit(f"seqlab submit k8s: {err}") from None
    if dry_run:
        print(mask_secrets(text), end="")
        return text
    refuse_secrets(
        text,
        "the RayJob manifest (a fit argument)",
        "keep secrets in a Kubernetes Secret and give them to the pod from there",
    )
    path = Path(output or f"{job}.yaml")
    path.write_text(text, encoding="utf-8")
    print(f"wrote RayJob {job} to {path}; submit it with: kubectl apply -f {path}")
    if not pod.pvc:
        print("  note: without --pvc the run directory lives in the pod and is lost with it")
    return text


def _gpu_trainer_args(gpus: int) -> list[str]:
    """Trainer flags for one node with ``gpus`` GPUs (DDP across them), or CPU."""
    args = [f"--trainer.accelerator={'gpu' if gpus else 'cpu'}", f"--trainer.devices={max(gpus, 1)}"]
    return [*args, "--trainer.strategy=ddp"] if gpus > 1 else args
