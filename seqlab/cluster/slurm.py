"""SLURM: a batch script from the template, submitted with ``sbatch``; status, logs and cancel.

Every value that reaches the script is either a checked number or name, or shell-quoted; commands
run here (``sbatch``, ``scontrol``, ``scancel``) get argument lists, never a shell string.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

_NAME = re.compile(r"^[A-Za-z0-9_.:+@/=-]+$")  # partition, account, qos, time, mem, job name
_JOB_ID = re.compile(r"^[0-9]+(_[0-9]+)?$")


class SlurmError(RuntimeError):
    """A SLURM command failed; the message holds the command and what it printed."""


@dataclass
class SlurmResources:
    """What the job asks SLURM for.

    Args:
        nodes: nodes (``--nodes``); DDP runs across all of them.
        gpus_per_node: GPUs per node; one task per GPU. 0 trains on CPU, one task per node.
        cpus_per_task: CPU cores per task (data loading, CPU training).
        partition: ``--partition``.
        account: ``--account``.
        qos: ``--qos``.
        time: time limit (``--time``, e.g. ``24:00:00`` or ``2-00:00:00``).
        mem: memory per node (``--mem``, e.g. ``64G``; ``0`` is all of it).
        signal_seconds: SIGUSR1 this many seconds before the time limit (save and requeue).
        sbatch_args: more ``#SBATCH`` options, each as ``--name=value``.
        setup: shell lines run before training (``module load ...``, ``source .venv/bin/activate``);
            they come from your own profile and are written as they are.
    """

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 2
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None
    mem: str | None = None
    signal_seconds: int = 90
    sbatch_args: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.nodes < 1 or self.gpus_per_node < 0 or self.cpus_per_task < 1 or self.signal_seconds < 1:
            raise ValueError(
                "need nodes >= 1, gpus_per_node >= 0, cpus_per_task >= 1 and signal_seconds >= 1; got "
                f"{self.nodes}, {self.gpus_per_node}, {self.cpus_per_task}, {self.signal_seconds}"
            )
        for key in ("partition", "account", "qos", "time", "mem"):
            value = getattr(self, key)
            if value is not None and not _NAME.match(str(value)):
                raise ValueError(f"{key}: {value!r} is not a SLURM {key} (letters, digits and _.:+@/=- only)")
        for arg in self.sbatch_args:
            if not re.match(r"^--[a-z][a-z-]*(=\S+)?$", arg) or "\n" in arg:
                raise ValueError(f"sbatch_args: {arg!r} is not one `--option=value` without spaces")

    @property
    def tasks_per_node(self) -> int:
        return max(self.gpus_per_node, 1)

    def trainer_args(self) -> list[str]:
        """The ``seqlab fit`` flags that make Lightning use every task of the allocation."""
        accelerator = "gpu" if self.gpus_per_node else "cpu"
        args = [f"--trainer.accelerator={accelerator}", f"--trainer.devices={self.tasks_per_node}"]
        args.append(f"--trainer.num_nodes={self.nodes}")
        if self.nodes * self.tasks_per_node > 1:
            args.append("--trainer.strategy=ddp")
        return args

    def sbatch_lines(self) -> list[str]:
        lines = [f"#SBATCH --gpus-per-node={self.gpus_per_node}"] if self.gpus_per_node else []
        for key in ("partition", "account", "qos", "time", "mem"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"#SBATCH --{key}={value}")
        return lines + [f"#SBATCH {arg}" for arg in self.sbatch_args]


def python_note(python: str | None, setup: list[str]) -> str:
    """Which interpreter the job runs, in words: ``--python`` as given, or ``python`` from the PATH
    that the setup lines leave (sbatch passes this shell's PATH on when there are none)."""
    if python:
        return f"{python} (--python)"
    if setup:
        return "`python` on the PATH after the setup lines (`" + "; ".join(setup) + "`)"
    here = shutil.which("python") or "none on this PATH"
    return (
        f"`python` on the PATH sbatch passes on from this shell (here: {here}); add a setup line that "
        "activates an environment, or give --python PATH"
    )


def render_script(
    job: SlurmResources, command: list[str], job_name: str, output: Path, workdir: Path, python_note: str = ""
) -> str:
    """The batch script: ``#SBATCH`` header, the setup lines, then ``srun`` of the quoted command."""
    job.check()
    if not _NAME.match(job_name):
        raise ValueError(f"job name {job_name!r}: letters, digits and _.:+@/=- only")
    template = Template(resources.files("seqlab.cluster").joinpath("templates/slurm.sbatch").read_text())
    return template.substitute(
        job_name=job_name,
        nodes=job.nodes,
        tasks_per_node=job.tasks_per_node,
        cpus_per_task=job.cpus_per_task,
        output=shlex.quote(str(output)),
        signal_seconds=job.signal_seconds,
        workdir=shlex.quote(str(workdir)),
        sbatch_lines="\n".join(job.sbatch_lines()),
        setup_lines="\n".join(job.setup),
        python_note=" ".join(python_note.split()) or "the command's first word",
        command=shlex.join(command),
    )


def _run(args: list[str]) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SlurmError(
            f"{args[0]} not found: is this a SLURM login node (slurm-client installed)?"
        ) from None
    if result.returncode != 0:
        raise SlurmError(f"{shlex.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def sbatch(script: Path) -> str:
    """Submit a batch script; returns the job id."""
    out = _run(["sbatch", "--parsable", str(script)]).strip()
    job_id = out.split(";")[0]
    if not _JOB_ID.match(job_id):
        raise SlurmError(f"sbatch answered {out!r}, not a job id")
    return job_id


def _checked(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise ValueError(f"{job_id!r} is not a SLURM job id")
    return job_id


def job_fields(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (JobState, RestartCnt, StdOut, ...)."""
    text = _run(["scontrol", "show", "job", "--oneliner", _checked(job_id)])
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def cancel(job_id: str) -> None:
    _run(["scancel", _checked(job_id)])
