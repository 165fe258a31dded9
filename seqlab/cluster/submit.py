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
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from seqlab.cluster import job_env, kuberay, ray_jobs, slurm
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


def _experiment_config(config: str, command: str) -> Path:
    """The experiment config's absolute path; ``<command>: ...`` when there is no such file."""
    path = Path(config).resolve()
    if not path.is_file():
        raise SystemExit(f"{command}: {config}: no such experiment config")
    return path


def _print_how_to_follow(backend: str, job_id: str, options: str = "", log_hint: str = "") -> None:
    """The ``seqlab jobs`` commands that follow, inspect and stop the job just submitted."""
    print(f"  follow:  seqlab jobs logs {backend} {job_id}{options} --follow true{log_hint}")
    print(f"  status:  seqlab jobs status {backend} {job_id}{options}")
    print(f"  stop:    seqlab jobs stop {backend} {job_id}{options}")


def submit_slurm(
    config: str,
    job: slurm.SlurmResources,
    fit_args: list[str] | None = None,
    run_name: str | None = None,
    root_dir: str = "runs",
    python: str | None = None,
    dry_run: bool = False,
) -> str | None:
    """Write the batch script into a new run directory and submit it; returns the job id.

    The job runs ``python`` as written (never resolved: a link into this machine's environment may
    not exist on the compute nodes), by default the ``python`` that the profile's setup lines put on
    the PATH. With ``dry_run`` the script is printed and nothing is created or submitted.
    """
    config_path = _experiment_config(config, "seqlab submit")
    name = run_name or _run_name(config_path)
    if dry_run:  # where the job would go, without creating it
        run_dir = (Path(root_dir) / name / f"version_{runs.next_version(root_dir, name)}").resolve()
    else:
        run_dir = runs.new_run_dir(root_dir, name).resolve()
    interpreter = python or "python"
    command = fit_command(interpreter, config_path, run_dir, job.trainer_args(), list(fit_args or []))
    output = run_dir / "slurm-%j.out"
    note = slurm.python_note(python, job.setup)
    try:
        script = slurm.render_script(job, command, f"seqlab-{name}", output, Path.cwd(), note)
    except ValueError as err:
        if not dry_run:
            run_dir.rmdir()
        raise SystemExit(f"seqlab submit slurm: {err}") from None
    if dry_run:
        print(mask_secrets(script), end="")
        print(mask_secrets(f"seqlab submit slurm: the job's python: {note}"), file=sys.stderr)
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
    print(mask_secrets(f"the job's python: {note}"))
    return _sbatch(run_dir, script, command)


def _sbatch(run_dir: Path, script: str, command: list[str]) -> str:
    """Submit the written script; record the job in ``job.json`` beside it and say how to follow it."""
    path = run_dir / "job.sbatch"
    path.write_text(script, encoding="utf-8")
    job_id = slurm.sbatch(path)
    log = run_dir / f"slurm-{job_id}.out"
    record = {"backend": "slurm", "job_id": job_id, "script": str(path), "log": str(log), "command": command}
    (run_dir / "job.json").write_text(mask_secrets(json.dumps(record, indent=2)) + "\n", encoding="utf-8")
    print(f"submitted SLURM job {job_id}; run directory {run_dir}")
    _print_how_to_follow("slurm", job_id, log_hint=f"   (or tail -f {log})")
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


def _ray_entrypoint(
    python: str,
    config: Path,
    run_dir: str,
    submission_id: str,
    job: ray_jobs.RayJobResources,
    fit_args: list[str],
) -> tuple[list[str], float, float]:
    """The job's command and the CPUs and GPUs its entrypoint holds: ``seqlab fit`` itself on one node,
    or, with Ray Train workers, a driver that holds nothing (the workers hold the resources)."""
    if not job.num_workers:
        return fit_command(python, config, run_dir, _gpu_trainer_args(job.gpus), fit_args), job.cpus, job.gpus
    fit = fit_command(python, config, run_dir, [], fit_args)[4:]  # after `fit`
    command = [python, "-m", "seqlab.cluster.ray_train", f"--num_workers={job.num_workers}",
               f"--gpus_per_worker={job.gpus_per_worker}", f"--cpus_per_worker={job.cpus_per_worker}",
               f"--storage_path={run_dir}/ray_train", f"--name={submission_id}", "--", *fit]  # fmt: skip
    return command, 0, 0


def submit_ray(
    config: str,
    address: str,
    job: ray_jobs.RayJobResources,
    fit_args: list[str] | None = None,
    working_dir: str = ".",
    requirements: str | None = None,
    run_name: str | None = None,
    root_dir: str = "runs",
    python: str = "python",
    follow: bool = False,
    dry_run: bool = False,
    env_vars: dict[str, str] | None = None,
) -> str | None:
    """Submit ``seqlab fit`` through the Ray Jobs API; returns the submission id.

    With ``job.num_workers`` 0 the job trains on one node with ``job.gpus`` GPUs (DDP across them) or
    on CPU; with N workers, Ray Train runs N workers of ``gpus_per_worker`` GPUs and
    ``cpus_per_worker`` CPUs anywhere in the cluster, DDP across all of them. ``config`` must lie
    inside ``working_dir``, which Ray uploads; a relative ``root_dir`` is relative to the job's copy
    of it on the node, so name shared storage to keep runs. ``env_vars`` is the job's environment
    (printed, secrets masked).
    """
    work = Path(working_dir).resolve()
    config_path = _experiment_config(config, "seqlab submit ray")
    if not config_path.is_relative_to(work):
        raise SystemExit(f"seqlab submit ray: {config} is not inside the working directory {work}")
    if (problem := job.problem()) is not None:
        raise SystemExit(f"seqlab submit ray: {problem}")
    name = run_name or _run_name(config_path)
    submission_id = f"seqlab-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{uuid.uuid4().hex[:8]}"
    run_dir = f"{root_dir}/{name}/{submission_id}"
    entry = _ray_entrypoint(
        python, config_path.relative_to(work), run_dir, submission_id, job, list(fit_args or [])
    )
    command, cpus, gpus = entry
    env_vars = dict(env_vars or {})
    if dry_run:  # what would be sent, secrets masked (the real submission sends them to the job)
        spec = {
            "submission_id": submission_id,
            "entrypoint": command,
            "runtime_env": ray_jobs.runtime_env(work, requirements, mask_env(env_vars)),
            "entrypoint_num_cpus": cpus,
            "entrypoint_num_gpus": gpus,
        }
        print(mask_secrets(json.dumps(spec, indent=2)))
        print(f"seqlab submit ray: {job_env.describe(env_vars)}", file=sys.stderr)
        return None
    job_id = ray_jobs.submit(address, command, work, requirements, cpus, gpus, env_vars, submission_id)
    print(f"submitted Ray job {job_id} to {address}; run directory {run_dir} (on the cluster)")
    print(f"  {job_env.describe(env_vars)}")
    _print_how_to_follow("ray", job_id, f" --address {address}")
    if follow:
        _follow_to_the_end(address, job_id)
    return job_id


def _follow_to_the_end(address: str, job_id: str) -> None:
    """Print the job's logs until it ends; exit with status 1 unless it succeeded."""
    state = ray_jobs.follow_logs(address, job_id, follow=True)
    print(f"Ray job {job_id}: {state}")
    if state != "SUCCEEDED":
        raise SystemExit(1)


def submit_k8s(
    config: str,
    pod: kuberay.PodResources,
    fit_args: list[str] | None = None,
    run_name: str | None = None,
    python: str = "python",
    output: str | None = None,
    dry_run: bool = False,
    env_vars: dict[str, str] | None = None,
) -> str:
    """Write (or with ``dry_run`` print) a KubeRay RayJob manifest; returns its text.

    ``config`` is the experiment's path inside the image, relative to the image's working
    directory; when it also exists here, the run name is read from it. The job's environment is
    ``env_vars`` and nothing else from this shell.
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
    env_vars = dict(env_vars or {})
    try:
        shown = mask_env(env_vars) if dry_run else env_vars  # a printed manifest stays valid YAML
        text = kuberay.manifest(kuberay.rayjob(pod, job, command, shown))
    except ValueError as err:
        raise SystemExit(f"seqlab submit k8s: {err}") from None
    if dry_run:
        print(mask_secrets(text), end="")
        print(f"seqlab submit k8s: {job_env.describe(env_vars)}", file=sys.stderr)
        return text
    refuse_secrets(
        text,
        "the RayJob manifest (an --env value or a fit argument)",
        "keep secrets in a Kubernetes Secret and give them to the pod from there (drop them from --env)",
    )
    path = Path(output or f"{job}.yaml")
    path.write_text(text, encoding="utf-8")
    print(f"wrote RayJob {job} to {path}; submit it with: kubectl apply -f {path}")
    print(f"  {job_env.describe(env_vars)}")
    if not pod.pvc:
        print("  note: without --pvc the run directory lives in the pod and is lost with it")
    return text


def _gpu_trainer_args(gpus: int) -> list[str]:
    """Trainer flags for one node with ``gpus`` GPUs (DDP across them), or CPU."""
    args = [f"--trainer.accelerator={'gpu' if gpus else 'cpu'}", f"--trainer.devices={max(gpus, 1)}"]
    return [*args, "--trainer.strategy=ddp"] if gpus > 1 else args
