"""Kubernetes and Ray deployment assets: the RayJob manifest `seqlab submit k8s` writes (its pod
template checked against the real Kubernetes schema by kubernetes-validate, the RayJob fields against
the KubeRay ray.io/v1 RayJob API), and the Ray cluster launcher YAML against Ray's own schema."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import ray
import yaml

from seqlab.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = "configs/generation/char_lstm.yaml"
KUBERNETES = "1.30"

# The RayJob fields of KubeRay's ray.io/v1 API reference that a manifest may use here; unknown
# keys are errors, so a misspelt field fails instead of being ignored by the operator.
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
RAYJOB_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "namespace": {"type": "string"},
                "labels": _STRINGS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["entrypoint", "rayClusterSpec"],
            "additionalProperties": False,
            "properties": {
                "entrypoint": {"type": "string"},
                "runtimeEnvYAML": {"type": "string"},
                "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]},
                "entrypointNumCpus": {"type": "number", "minimum": 0},
                "entrypointNumGpus": {"type": "number", "minimum": 0},
                "entrypointResources": {"type": "string"},
                "backoffLimit": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
                "shutdownAfterJobFinishes": {"type": "boolean"},
                "suspend": {"type": "boolean"},
                "rayClusterSpec": {
                    "type": "object",
                    "required": ["headGroupSpec"],
                    "properties": {
                        "rayVersion": {"type": "string"},
                        "enableInTreeAutoscaling": {"type": "boolean"},
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["template"],
                            "additionalProperties": False,
                            "properties": {
                                "rayStartParams": _STRINGS,
                                "serviceType": {"type": "string"},
                                "template": {"type": "object"},
                            },
                        },
                        "workerGroupSpecs": {"type": "array"},
                    },
                },
            },
        },
    },
}


def _manifest(capsys, *options: str) -> dict:
    return yaml.safe_load(_dry_run(capsys, *options)[0])


def _dry_run(capsys, *options: str) -> tuple[str, str]:
    """The manifest a dry run prints, and what it says on stderr."""
    main(
        [
            "submit",
            "k8s",
            "--config",
            CONFIG,
            "--run_name=char_lstm",
            "--image=registry.example.com/seqlab:0.1",
            *options,
        ]
    )
    captured = capsys.readouterr()
    return captured.out, captured.err


def _check(resource: dict) -> None:
    jsonschema.validate(resource, RAYJOB_SCHEMA)
    template = resource["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    pod_template = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "head"},
        "template": template,
    }
    kubernetes_validate.validate(pod_template, KUBERNETES, strict=True)


@pytest.mark.parametrize("gpus", [0, 4])
def test_rayjob_manifest_is_valid(capsys, gpus):
    options = ["--gpus", str(gpus), "--cpus", "16", "--memory", "64Gi", "--pvc", "seqlab-runs"]
    resource = _manifest(
        capsys, *options, "--dry-run", "true", "--", "--trainer.max_steps=9", "--x=a b; rm -rf /"
    )
    _check(resource)
    spec = resource["spec"]
    args = shlex.split(spec["entrypoint"])
    name = resource["metadata"]["name"]
    assert args[:6] == ["python", "-m", "seqlab", "fit", "--config", CONFIG]
    assert f"--run.dir=/mnt/seqlab/runs/char_lstm/{name}" in args and "--ckpt_path=last" in args
    assert args[-2:] == ["--trainer.max_steps=9", "--x=a b; rm -rf /"]  # one argument each, unexpanded
    container = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"].get("nvidia.com/gpu") == (str(gpus) if gpus else None)
    assert spec["entrypointNumGpus"] == gpus and ("--trainer.strategy=ddp" in args) == (gpus > 1)
    assert container["volumeMounts"][0]["mountPath"] == "/mnt/seqlab"


@pytest.mark.parametrize("spelling", [["--dry-run"], ["--dry-run", "true"], ["--dry_run=true"]], ids=str)
def test_dry_run_is_a_bare_flag_or_takes_true(capsys, spelling):
    """Tried: bare `--dry-run` used to fail with "expected one argument"."""
    _check(_manifest(capsys, *spelling))
    assert not list(Path().glob("*.yaml"))


def test_the_shell_environment_is_not_baked_in(capsys, monkeypatch):
    """Tried: WANDB_MODE and HF_*_OFFLINE of the submitting shell used to reach the job silently."""
    for name in ("WANDB_MODE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "offline" if name == "WANDB_MODE" else "1")
    out, err = _dry_run(capsys, "--dry-run")
    assert "runtimeEnvYAML" not in yaml.safe_load(out)["spec"] and "OFFLINE" not in out
    assert "environment passed to the job: none (add --env NAME=VALUE" in err


def test_env_names_what_the_job_gets_and_says_so_masked(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HF_TOKEN", "hf-secret-123456")
    profile = tmp_path / "k8s.yaml"
    profile.write_text("env: [WANDB_PROJECT=lm]\n")
    options = ["--profile", str(profile), "--env", "WANDB_MODE", "--env=SEED=3", "--env", "HF_TOKEN"]
    out, err = _dry_run(capsys, *options, "--dry-run")
    resource = yaml.safe_load(out)
    _check(resource)
    env = yaml.safe_load(resource["spec"]["runtimeEnvYAML"])["env_vars"]
    assert env == {"WANDB_PROJECT": "lm", "WANDB_MODE": "offline", "SEED": "3", "HF_TOKEN": "****"}
    assert "environment passed to the job: WANDB_PROJECT=lm, WANDB_MODE=offline, SEED=3, HF_TOKEN=****" in err
    assert "hf-secret-123456" not in out + err
    with pytest.raises(
        SystemExit, match=r"manifest \(an --env value or a fit argument\) would hold a secret"
    ):  # a written manifest never holds it
        main(["submit", "k8s", "--config", str(REPO / CONFIG), "--image", "img:1", "--env", "HF_TOKEN"])


def test_tolerations_and_node_selector_reach_the_pod(capsys):
    options = ["--tolerations", "nvidia.com/gpu:NoSchedule", "--tolerations=pool=gpu:NoExecute"]
    resource = _manifest(capsys, *options, "--node-selector", "nvidia.com/gpu.product=A100", "--dry-run")
    _check(resource)
    pod = resource["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "A100"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "pool", "operator": "Equal", "effect": "NoExecute", "value": "gpu"},
    ]


def test_the_shipped_profile_is_valid(capsys):
    resource = _manifest(capsys, "--profile", str(REPO / "configs/cluster/k8s_gpu.yaml"), "--dry-run")
    _check(resource)
    pod = resource["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu" and pod["nodeSelector"]
    assert "WANDB_PROJECT" in resource["spec"]["runtimeEnvYAML"]


def test_the_shipped_example_is_valid():
    _check(yaml.safe_load((REPO / "deploy" / "rayjob-example.yaml").read_text()))


def test_manifest_file_is_written(capsys, tmp_path):
    options = ["--image", "img:1", "--output", "job.yaml", "--dry-run", "false"]
    main(["submit", "k8s", "--config", str(REPO / CONFIG), *options])
    assert "kubectl apply -f job.yaml" in capsys.readouterr().out
    _check(yaml.safe_load(Path("job.yaml").read_text()))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--memory=64GB", "not a Kubernetes quantity"),
        ("--pvc=My_Runs", "not a Kubernetes name"),
        ("--tolerations=gpu:NoPlease", "tolerations: 'gpu:NoPlease' is not KEY=VALUE:EFFECT"),
        ("--node-selector=gpu", "node_selector: 'gpu' is not LABEL=VALUE"),
        ("--env=1X=2", "--env '1X=2': expected NAME=VALUE or NAME"),
        ("--env=SEQLAB_UNSET_X", "SEQLAB_UNSET_X is not set in this shell"),
    ],
)
def test_bad_values_are_refused(capsys, option, message):
    with pytest.raises(SystemExit, match=message):
        _manifest(capsys, option, "--dry-run", "true")


def test_ray_cluster_launcher_config_matches_rays_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(yaml.safe_load((REPO / "deploy" / "ray-cluster.yaml").read_text()), schema)
