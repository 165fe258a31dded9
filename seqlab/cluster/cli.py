"""Command lines of ``seqlab submit slurm|ray ...`` and ``seqlab jobs status|logs|stop slurm|ray ID``.

``seqlab submit slurm --profile configs/cluster/P.yaml --config EXPERIMENT.yaml [--nodes ...] [-- FIT ARGS]``
and ``seqlab submit ray --config EXPERIMENT.yaml --address http://HEAD:8265 [--gpus ...] [-- FIT ARGS]``:
options may be written ``--gpus-per-node`` or ``--gpus_per_node``; a profile holds site defaults and
is read where it stands, so options after it override it; arguments after ``--`` go to
``seqlab fit`` unchanged (``-- --trainer.max_steps=1000``). ``--dry-run`` and ``--follow`` may stand
alone or take ``true``/``false``; list options (``--env``, ``--tolerations``, ``--node-selector``) may be
repeated, each adding to the profile's list.
"""

from __future__ import annotations

import json
import os
from typing import TypeVar

from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser, Namespace

from seqlab.cluster import job_env, kuberay, ray_jobs, slurm
from seqlab.cluster.secrets import mask_secrets
from seqlab.cluster.submit import slurm_logs, slurm_status, submit_k8s, submit_ray, submit_slurm
from seqlab.engine.config_keys import explain
from seqlab.engine.errors import UserError

BACKENDS = ("slurm", "ray")  # `seqlab jobs` back-ends; `submit` also writes Kubernetes manifests
SUBMIT = (*BACKENDS, "k8s")
DEFAULT_RAY_ADDRESS = "http://127.0.0.1:8265"
T = TypeVar("T")
LISTS = ("env", "tolerations", "node_selector")  # repeated on the command line: each adds an item


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    """Options before ``--`` (dashes in option names turned into underscores) and fit arguments after."""
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    else:
        rest = []
    options = []
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            name = name[2:].replace("-", "_")
            arg = "--" + name + ("+" if name in LISTS else "") + eq + value
        options.append(arg)
    return options, rest


def _flag(parser: ArgumentParser, name: str, help: str) -> None:
    """A yes/no option: bare ``--name`` means true; ``--name true|false`` also works."""
    parser.add_argument(f"--{name}", type=bool, nargs="?", const=True, default=False, help=help)


def _env_option(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        type=list[str],
        default=[],
        help="NAME=VALUE, or NAME to copy this shell's value, for the job's environment (repeatable)",
    )


def _parser(backend: str, config_help: str) -> ArgumentParser:
    """The options every back-end shares: profile, experiment config, run name."""
    parser = ArgumentParser(prog=f"seqlab submit {backend}", description=__doc__, exit_on_error=False)
    parser.add_argument("--profile", action=ActionConfigFile, help="site defaults (configs/cluster/*.yaml)")
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--run_name", type=str | None, default=None, help="default: the config's run.name")
    return parser


def _slurm_parser() -> ArgumentParser:
    parser = _parser("slurm", "the experiment YAML that `seqlab fit` trains")
    parser.add_class_arguments(slurm.SlurmResources, None)
    parser.add_argument("--root_dir", default="runs", help="where runs live")
    parser.add_argument(
        "--python",
        type=str | None,
        default=None,
        help="the interpreter on the compute nodes, written as given (default: `python` on the PATH "
        "after the profile's setup lines)",
    )
    _flag(parser, "dry_run", "print the batch script, submit nothing")
    return parser


def _ray_parser() -> ArgumentParser:
    parser = _parser("ray", "the experiment YAML that `seqlab fit` trains (inside --working_dir)")
    parser.add_argument("--address", default=_ray_address(), help="Ray Jobs API (default: $RAY_ADDRESS)")
    parser.add_class_arguments(ray_jobs.RayJobResources, None)
    parser.add_argument("--working_dir", default=".", help="uploaded to the cluster; holds the config")
    parser.add_argument("--requirements", type=str | None, default=None, help="pip requirements file")
    parser.add_argument("--root_dir", default="runs", help="runs on the cluster (use shared storage)")
    parser.add_argument("--python", default="python", help="the interpreter on the cluster's nodes")
    _env_option(parser)
    _flag(parser, "follow", "print the logs until the job ends")
    _flag(parser, "dry_run", "print the job, submit nothing")
    return parser


def _ray_address() -> str:
    address = os.environ.get("RAY_ADDRESS", DEFAULT_RAY_ADDRESS)
    return address if "://" in address else f"http://{address.split(':')[0]}:8265"


def _k8s_parser() -> ArgumentParser:
    parser = _parser("k8s", "the experiment YAML, as a path inside the image")
    parser.add_class_arguments(kuberay.PodResources, None)
    parser.add_argument("--python", default="python", help="the interpreter in the image")
    parser.add_argument("--output", type=str | None, default=None, help="manifest file (default: <job>.yaml)")
    _env_option(parser)
    _flag(parser, "dry_run", "print the manifest, write nothing")
    return parser


def _parse(parser: ArgumentParser, argv: list[str], verb: str) -> Namespace:
    """``argv`` parsed, a bad or missing option being one line (with the nearest valid option), as the
    other verbs say it."""
    try:
        return parser.parse_args(argv)
    except ArgumentError as err:
        raise UserError(explain(err, parser, argv, verb)) from None


def _resources(cls: type[T], cfg: Namespace) -> T:
    """The back-end's resources dataclass from the parsed options its fields became."""
    return cls(**{name: cfg[name] for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]


def submit_main(argv: list[str]) -> None:
    if not argv or argv[0] not in SUBMIT:
        usage = f"usage: seqlab submit {'|'.join(SUBMIT)} --config EXPERIMENT.yaml ... [-- FIT ARGS]"
        if argv and argv[0] in ("-h", "--help"):
            print(f"{usage}\n(seqlab submit BACKEND --help: that back-end's options)\n\n{__doc__}")
            return
        raise SystemExit(usage)
    backend = argv[0]
    options, fit_args = _split(argv[1:])
    if backend == "k8s":
        cfg = _parse(_k8s_parser(), options, "submit k8s")
        pod = _resources(kuberay.PodResources, cfg)
        env_vars = job_env.for_job(cfg.env, "k8s")
        submit_k8s(cfg.config, pod, fit_args, cfg.run_name, cfg.python, cfg.output, cfg.dry_run, env_vars)
        return
    if backend == "ray":
        cfg = _parse(_ray_parser(), options, "submit ray")
        job = _resources(ray_jobs.RayJobResources, cfg)
        keys = ("working_dir", "requirements", "run_name", "root_dir", "python", "follow", "dry_run")
        env_vars = job_env.for_job(cfg.env, "ray")
        try:
            submit_ray(cfg.config, cfg.address, job, fit_args, env_vars=env_vars, **{k: cfg[k] for k in keys})
        except (ray_jobs.RayJobError, ValueError) as err:
            raise SystemExit(mask_secrets(f"seqlab submit ray: {err}")) from None
        return
    cfg = _parse(_slurm_parser(), options, "submit slurm")
    job = _resources(slurm.SlurmResources, cfg)
    try:
        submit_slurm(cfg.config, job, fit_args, cfg.run_name, cfg.root_dir, cfg.python, cfg.dry_run)
    except slurm.SlurmError as err:
        raise SystemExit(mask_secrets(f"seqlab submit slurm: {err}")) from None


def jobs_main(argv: list[str]) -> None:
    parser = ArgumentParser(
        prog="seqlab jobs", description="Status, logs or cancel of a submitted job.", exit_on_error=False
    )
    parser.add_argument("action", choices=["status", "logs", "stop"])
    parser.add_argument("backend", choices=list(BACKENDS))
    parser.add_argument("job_id")
    _flag(parser, "follow", "logs: keep printing until the job ends")
    parser.add_argument("--address", default=_ray_address(), help="ray: the Jobs API (default: $RAY_ADDRESS)")
    cfg = _parse(parser, argv, "jobs")
    try:
        if cfg.backend == "ray":
            _ray_job(cfg.action, cfg.address, cfg.job_id, cfg.follow)
        elif cfg.action == "status":
            print(mask_secrets(json.dumps(slurm_status(cfg.job_id), indent=2)))
        elif cfg.action == "logs":
            slurm_logs(cfg.job_id, cfg.follow)
        else:
            slurm.cancel(cfg.job_id)
            print(f"cancelled SLURM job {cfg.job_id}")
    except (slurm.SlurmError, ray_jobs.RayJobError, ValueError) as err:
        raise SystemExit(mask_secrets(f"seqlab jobs: {err}")) from None


def _ray_job(action: str, address: str, job_id: str, follow: bool) -> None:
    if action == "status":
        print(mask_secrets(json.dumps(ray_jobs.status(address, job_id), indent=2)))  # it has the entrypoint
    elif action == "logs":
        ray_jobs.follow_logs(address, job_id, follow)
    else:
        stopped = ray_jobs.stop(address, job_id)
        print(f"stopped Ray job {job_id}" if stopped else f"Ray job {job_id} had already ended")
