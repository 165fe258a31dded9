"""Training across several Ray workers (GPUs or nodes of a Ray cluster).

Ray Train starts one process per worker and each runs ``seqlab fit`` through the same entry point
as on one machine, with Lightning's DDP on Ray's process group (``RayDDPStrategy`` and
``RayLightningEnvironment``). ``seqlab submit ray --num-workers N`` makes this module the job's
entrypoint::

    python -m seqlab.cluster.ray_train --num_workers 4 --gpus_per_worker 1 --storage_path DIR \\
        -- --config C.yaml --run.dir D --ckpt_path last ...

After a worker fails, Ray Train restarts the group (``--max_failures``) and every worker resumes
from the run directory's ``last.ckpt``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from seqlab.cluster.secrets import mask_secrets

# Lightning on Ray's process group; given last, so they win over anything the config says.
RAY_TRAINER_ARGS = [
    '--trainer.strategy={"class_path": "ray.train.lightning.RayDDPStrategy"}',
    '--trainer.plugins=[{"class_path": "ray.train.lightning.RayLightningEnvironment"}]',
    "--trainer.devices=auto",
    "--trainer.num_nodes=1",
]


def worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: ``seqlab fit`` with the job's arguments, from the job's working
    directory (Ray Train starts workers in a staging directory of its own; the uploaded working
    directory sits at the same path on every node of one cluster session)."""
    import seqlab.tasks  # noqa: F401  (the task classes, for the config's class_path, as `seqlab fit`)
    from seqlab.engine.training_cli import train_main

    if os.path.isdir(config["workdir"]):
        os.chdir(config["workdir"])
    accelerator = "gpu" if config["use_gpu"] else "cpu"
    train_main(["fit", *config["fit_args"], f"--trainer.accelerator={accelerator}", *RAY_TRAINER_ARGS])


def fit_trainer(
    fit_args: list[str],
    num_workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    name: str,
    storage_path: str,
    **run_options: Any,
) -> Any:
    """The one Ray Train set-up (``seqlab submit ray`` jobs and multi-worker sweep trials): a
    ``TorchTrainer`` whose ``num_workers`` workers each run :func:`worker` with ``fit_args``.
    ``run_options`` go to Ray's ``RunConfig`` (``failure_config``, ``callbacks``)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    use_gpu = gpus_per_worker > 0
    resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if use_gpu else {})}
    return TorchTrainer(
        worker,
        train_loop_config={"fit_args": fit_args, "use_gpu": use_gpu, "workdir": os.getcwd()},
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(name=name, storage_path=storage_path, **run_options),
    )


def run(
    fit_args: list[str],
    num_workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    storage_path: str,
    name: str,
    max_failures: int,
) -> None:
    from ray.train import FailureConfig

    failures = FailureConfig(max_failures=max_failures)
    trainer = fit_trainer(
        fit_args, num_workers, gpus_per_worker, cpus_per_worker, name, storage_path, failure_config=failures
    )
    trainer.fit()


def main(argv: list[str]) -> None:
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m seqlab.cluster.ray_train", description=__doc__)
    parser.add_argument("--num_workers", type=int, required=True)
    parser.add_argument("--gpus_per_worker", type=float, default=0)
    parser.add_argument("--cpus_per_worker", type=float, default=1)
    parser.add_argument("--storage_path", required=True, help="Ray Train's own files (shared storage)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--max_failures", type=int, default=3)
    args = parser.parse_args(argv[:cut])
    fit_args = argv[cut + 1 :]
    shown = mask_secrets(json.dumps(fit_args))  # the job's log is read by `seqlab jobs logs`, maybe shared
    print(f"seqlab: Ray Train, {args.num_workers} workers: seqlab fit {shown}", flush=True)
    run(
        fit_args,
        args.num_workers,
        args.gpus_per_worker,
        args.cpus_per_worker,
        os.path.abspath(args.storage_path),  # Ray Train wants an absolute path or a URI
        args.name,
        args.max_failures,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
