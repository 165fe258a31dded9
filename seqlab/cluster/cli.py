"""Command lines of ``seqlab submit <backend> ...`` and ``seqlab jobs status|logs|stop <backend> ID``.

``seqlab submit slurm --profile configs/cluster/P.yaml --config EXPERIMENT.yaml [--nodes ...] [-- FIT ARGS]``:
options may be written ``--gpus-per-node`` or ``--gpus_per_node``; a profile holds site defaults and
is read where it stands, so options after it override it; arguments after ``--`` go to
``seqlab fit`` unchanged (``-- --trainer.max_steps=1000``).
"""

from __future__ import annotations

import json
import sys

from jsonargparse import ActionConfigFile, ArgumentParser

from seqlab.cluster import slurm
from seqlab.cluster.submit import slurm_logs, slurm_status, submit_slurm

BACKENDS = ("slurm",)


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
            arg = "--" + name[2:].replace("-", "_") + eq + value
        options.append(arg)
    return options, rest


def _slurm_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="seqlab submit slurm", description=__doc__)
    parser.add_argument("--profile", action=ActionConfigFile, help="site defaults (configs/cluster/*.yaml)")
    parser.add_argument("--config", required=True, help="the experiment YAML that `seqlab fit` trains")
    parser.add_class_arguments(slurm.SlurmResources, None)
    parser.add_argument("--run_name", type=str | None, default=None, help="default: the config's run.name")
    parser.add_argument("--root_dir", default="runs", help="where runs live")
    parser.add_argument("--python", default=sys.executable, help="the interpreter on the compute nodes")
    parser.add_argument("--dry_run", type=bool, default=False, help="print the batch script, submit nothing")
    return parser


def submit_main(argv: list[str]) -> None:
    if not argv or argv[0] not in BACKENDS:
        raise SystemExit(
            f"usage: seqlab submit {{{','.join(BACKENDS)}}} --config EXPERIMENT.yaml ... [-- FIT ARGS]"
        )
    options, fit_args = _split(argv[1:])
    parser = _slurm_parser()
    cfg = parser.parse_args(options)
    fields = slurm.SlurmResources.__dataclass_fields__
    job = slurm.SlurmResources(**{k: cfg[k] for k in fields})
    try:
        submit_slurm(cfg.config, job, fit_args, cfg.run_name, cfg.root_dir, cfg.python, cfg.dry_run)
    except slurm.SlurmError as err:
        raise SystemExit(f"seqlab submit slurm: {err}") from None


def jobs_main(argv: list[str]) -> None:
    parser = ArgumentParser(prog="seqlab jobs", description="Status, logs or cancel of a submitted job.")
    parser.add_argument("action", choices=["status", "logs", "stop"])
    parser.add_argument("backend", choices=list(BACKENDS))
    parser.add_argument("job_id")
    parser.add_argument("--follow", type=bool, default=False, help="logs: keep printing until the job ends")
    cfg = parser.parse_args(argv)
    try:
        if cfg.action == "status":
            print(json.dumps(slurm_status(cfg.job_id), indent=2))
        elif cfg.action == "logs":
            slurm_logs(cfg.job_id, cfg.follow)
        else:
            slurm.cancel(cfg.job_id)
            print(f"cancelled SLURM job {cfg.job_id}")
    except (slurm.SlurmError, ValueError) as err:
        raise SystemExit(f"seqlab jobs: {err}") from None
