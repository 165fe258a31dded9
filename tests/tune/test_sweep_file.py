"""Sweep files: checked before Ray starts, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray import tune

from seqlab.engine.build import ConfigError
from seqlab.tune.sweep import SweepError, load_sweep, param_space
from seqlab.tune.tuner import check_experiment

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "configs" / "generation" / "char_lstm.yaml"
SWEEPS = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
BASE = {
    "name": "s",
    "metric": "val/loss",
    "mode": "min",
    "space": {"model.init_args.net.hidden_size": {"choice": [8]}},
}


def write(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


def test_every_domain_kind_becomes_a_ray_domain(tmp_path):
    space = {
        "a": {"choice": [1, 2]},
        "b": {"grid": ["x", "y"]},
        "c": {"uniform": [0.0, 1.0]},
        "d": {"quniform": [0.0, 1.0, 0.1]},
        "e": {"loguniform": [1e-4, 1e-2]},
        "f": {"qloguniform": [1e-4, 1e-2, 1e-4]},
        "g": {"randint": [1, 4]},
        "h": {"qrandint": [2, 10, 2]},
        "i": {"randn": [0.0, 1.0]},
    }
    sweep = load_sweep(write(tmp_path, space=space))
    domains = param_space(sweep)
    assert domains["b"] == tune.grid_search(["x", "y"])
    assert isinstance(domains["e"], tune.search.sample.Float)
    assert isinstance(domains["e"].sampler, tune.search.sample.LogUniform)
    assert isinstance(domains["g"], tune.search.sample.Integer)
    assert domains["a"].categories == [1, 2]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"space": {"model.x": {"logspace": [1, 2]}}}, "space.model.x: unknown kind 'logspace'"),
        ({"space": {"model.x": {"uniform": [1]}}}, "space.model.x: uniform takes 2 numbers"),
        ({"space": {"model.x": {"uniform": [2, 1]}}}, "space.model.x: uniform needs low < high"),
        ({"space": {"model.x": {"loguniform": [0, 1]}}}, "loguniform needs low > 0"),
        ({"space": {"model.x": [1, 2]}}, "space.model.x: expected one {kind: arguments} pair"),
        ({"mode": "minimum"}, "mode"),
        ({"scheduler": {"name": "hyperband"}}, "scheduler.name"),
        ({"num_sample": 3}, "num_sample"),
        ({"search": {"algorithm": "grid"}, "space": {"m.x": {"uniform": [0, 1]}}}, "grid or choice domains"),
    ],
)
def test_bad_sweep_files_name_the_key(tmp_path, changes, message):
    path = write(tmp_path, **changes)
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_sweep_file(tmp_path):
    with pytest.raises(SweepError, match="no such sweep file"):
        load_sweep(tmp_path / "nope.yaml")


def test_a_key_the_experiment_does_not_have_fails_before_ray_starts(tmp_path):
    sweep = load_sweep(write(tmp_path, space={"model.init_args.hiden_size": {"choice": [8, 16]}}))
    with pytest.raises(ConfigError, match="hiden_size"):
        check_experiment(EXPERIMENT, sweep, [])
    check_experiment(EXPERIMENT, load_sweep(write(tmp_path)), [])  # the right spelling passes


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_shipped_sweeps_parse_against_their_experiments(path):
    """Each example sweep names its experiment in its header; every key exists there."""
    header = path.read_text().splitlines()
    command = next(line for line in header if "seqlab tune --config" in line)
    experiment = REPO / command.split("--config")[1].split()[0]
    check_experiment(experiment, load_sweep(path), [])


def test_grid_search_crosses_every_choice(tmp_path):
    from seqlab.tune.tuner import _space

    space = {"a": {"choice": [1, 2]}, "b": {"grid": ["x", "y", "z"]}}
    sweep = load_sweep(write(tmp_path, space=space, search={"algorithm": "grid"}))
    assert _space(sweep) == {"a": tune.grid_search([1, 2]), "b": tune.grid_search(["x", "y", "z"])}
    from ray.tune.search.variant_generator import generate_variants

    points = {(v["a"], v["b"]) for _, v in generate_variants(_space(sweep))}
    assert len(points) == 6
