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
    from seqlab.cli import main

    if os.path.isdir(config["workdir"]):
        os.chdir(config["workdir"])
    accelerator = "gpu" if config["use_gpu"] else "cpu"
    main(["fit", *config["fit_args"], f"--trainer.accelerator={accelerator}", *RAY_TRAINER_ARGS])


def run(
    fit_args: list[str],
    num_workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    storage_path: str,
    name: str,
    max_failures: int,
) -> None:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resources = {"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if gpus_per_worker else {})}
    trainer = TorchTrainer(
        worker,
        train_loop_config={"fit_args": fit_args, "use_gpu": gpus_per_worker > 0, "workdir": os.getcwd()},
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=gpus_per_worker > 0, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=name, storage_path=storage_path, failure_config=FailureConfig(max_failures=max_failures)
        ),
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
