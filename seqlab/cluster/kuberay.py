"""Kubernetes: a KubeRay ``RayJob`` manifest that trains one seqlab run (``kubectl apply`` is yours).

KubeRay creates a Ray cluster (one head pod holding the GPUs), submits the entrypoint, and deletes
the cluster when the job ends. The run directory sits on a persistent volume claim and the
entrypoint carries ``--run.dir ... --ckpt_path last``, so a retried job (``backoffLimit``) resumes
from the step its predecessor saved when its pod was stopped (SIGTERM, within
``terminationGracePeriodSeconds``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
# A label (or taint) key: an optional DNS-subdomain prefix and "/", then a name of up to 63 characters.
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass
class PodResources:
    """The head pod, where the job trains.

    Args:
        image: container image with Ray and seqlab installed (e.g. built from ``rayproject/ray``).
        gpus: GPUs (``nvidia.com/gpu``); DDP across them. 0 trains on CPU.
        cpus: CPU cores (a Kubernetes quantity: ``8``, ``500m``).
        memory: memory (``32Gi``).
        pvc: persistent volume claim for runs (created by you); without it runs vanish with the pod.
        mount: where the claim is mounted; runs go under ``<mount>/runs``.
        namespace: Kubernetes namespace.
        backoff_limit: retries of the whole job after a failure (each resumes from ``last.ckpt``).
        grace_seconds: ``terminationGracePeriodSeconds``: time to finish the step and save.
        ray_version: the image's Ray version.
        node_selector: ``LABEL=VALUE`` items the node must carry (``nodeSelector``).
        tolerations: taints the pod tolerates, as ``kubectl taint`` writes them: ``KEY=VALUE:EFFECT``
            (operator Equal) or ``KEY:EFFECT`` (operator Exists); EFFECT is NoSchedule,
            PreferNoSchedule or NoExecute.
    """

    image: str
    gpus: int = 0
    cpus: str = "4"
    memory: str = "16Gi"
    pvc: str | None = None
    mount: str = "/mnt/seqlab"
    namespace: str | None = None
    backoff_limit: int = 3
    grace_seconds: int = 120
    ray_version: str = "2.60.0"
    node_selector: list[str] = field(default_factory=list)
    tolerations: list[str] = field(default_factory=list)

    def check(self) -> None:
        if not self.image or any(c.isspace() for c in self.image):
            raise ValueError(f"image: {self.image!r} is not a container image reference")
        for key in ("cpus", "memory"):
            if not _QUANTITY.match(str(getattr(self, key))):
                raise ValueError(
                    f"{key}: {getattr(self, key)!r} is not a Kubernetes quantity (e.g. 8, 500m, 32Gi)"
                )
        for key in ("pvc", "namespace"):
            value = getattr(self, key)
            if value is not None and not _DNS_LABEL.match(value):
                raise ValueError(f"{key}: {value!r} is not a Kubernetes name (lower-case letters, digits, -)")
        if self.gpus < 0 or self.backoff_limit < 0 or self.grace_seconds < 1:
            raise ValueError("need gpus >= 0, backoff_limit >= 0 and grace_seconds >= 1")
        if not self.mount.startswith("/"):
            raise ValueError(f"mount: {self.mount!r} must be an absolute path")
        self.node_labels()
        self.pod_tolerations()

    def node_labels(self) -> dict[str, str]:
        """``node_selector`` as the pod's ``nodeSelector``."""
        labels = {}
        for item in self.node_selector:
            key, eq, value = str(item).partition("=")
            if not eq or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"node_selector: {item!r} is not LABEL=VALUE (e.g. nvidia.com/gpu.product=A100)"
                )
            labels[key] = value
        return labels

    def pod_tolerations(self) -> list[dict[str, str]]:
        """``tolerations`` as the pod's tolerations."""
        result = []
        for item in self.tolerations:
            taint, _, effect = str(item).rpartition(":")
            key, eq, value = taint.partition("=")
            if effect not in _EFFECTS or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"tolerations: {item!r} is not KEY=VALUE:EFFECT or KEY:EFFECT with EFFECT one of "
                    f"{', '.join(_EFFECTS)} (e.g. nvidia.com/gpu:NoSchedule)"
                )
            toleration = {"key": key, "operator": "Equal" if eq else "Exists", "effect": effect}
            result.append({**toleration, "value": value} if eq else toleration)
        return result


def job_name(run_name: str, suffix: str) -> str:
    """A valid, unique RayJob name (a DNS label of at most 63 characters)."""
    base = re.sub(r"[^a-z0-9-]+", "-", run_name.lower()).strip("-") or "run"
    return f"seqlab-{base[:40]}-{suffix}".strip("-")


def rayjob(pod: PodResources, name: str, command: list[str], env_vars: dict[str, str]) -> dict[str, Any]:
    """The RayJob resource as a dict."""
    pod.check()
    amounts = {"cpu": str(pod.cpus), "memory": pod.memory}
    if pod.gpus:
        amounts["nvidia.com/gpu"] = str(pod.gpus)
    container: dict[str, Any] = {
        "name": "ray-head",
        "image": pod.image,
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
        "ports": [
            {"containerPort": 6379, "name": "gcs-server"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 10001, "name": "client"},
        ],
    }
    pod_spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": pod.grace_seconds}
    if pod.node_selector:
        pod_spec["nodeSelector"] = pod.node_labels()
    if pod.tolerations:
        pod_spec["tolerations"] = pod.pod_tolerations()
    if pod.pvc:
        container["volumeMounts"] = [{"name": "runs", "mountPath": pod.mount}]
        pod_spec["volumes"] = [{"name": "runs", "persistentVolumeClaim": {"claimName": pod.pvc}}]
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "seqlab"}}
    if pod.namespace:
        metadata["namespace"] = pod.namespace
    spec: dict[str, Any] = {
        "entrypoint": shlex.join(command),
        "entrypointNumCpus": 1,
        "entrypointNumGpus": pod.gpus,
        "backoffLimit": pod.backoff_limit,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 600,
        "rayClusterSpec": {
            "rayVersion": pod.ray_version,
            "headGroupSpec": {
                "rayStartParams": {"num-gpus": str(pod.gpus)},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/managed-by": "seqlab"}},
                    "spec": pod_spec,
                },
            },
        },
    }
    if env_vars:
        spec["runtimeEnvYAML"] = yaml.safe_dump({"env_vars": env_vars}, sort_keys=True)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": metadata, "spec": spec}


def manifest(resource: dict[str, Any]) -> str:
    header = "# KubeRay RayJob written by `seqlab submit k8s`; apply with: kubectl apply -f <this file>\n"
    return header + yaml.safe_dump(resource, sort_keys=False, width=1000)
