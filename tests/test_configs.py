"""Every shipped YAML config (configs/**/*.yaml, including ones added later) parses, prints and trains."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from seqlab.cli import main
from seqlab.engine.compatibility import net_fields

REPO = Path(__file__).resolve().parents[1]
# Experiment configs; configs/cluster/ holds job-submission profiles (tests/cluster checks those) and
# configs/sweeps/ sweep files (tests/tune checks those against their experiments).
CONFIGS = sorted(
    p for p in (REPO / "configs").glob("**/*.yaml") if p.parent.name not in ("cluster", "sweeps")
)
IDS = [str(p.relative_to(REPO / "configs")) for p in CONFIGS]


def assert_contains(printed: Any, written: Any, where: str = "") -> None:
    """Every value set in the YAML file appears unchanged in the printed (resolved) config."""
    if isinstance(written, dict):
        assert isinstance(printed, dict), f"{where}: expected a mapping, got {printed!r}"
        for key, value in written.items():
            assert key in printed, f"{where}.{key} missing from the printed config"
            assert_contains(printed[key], value, f"{where}.{key}")
    else:
        assert printed == written, f"{where}: file has {written!r}, printed config has {printed!r}"


def accepted_args(config: Path, args: list[str]) -> list[str]:
    """``args`` without the ``--model.X`` (and ``--model.net.X``) overrides that the config's model class
    does not take (an n-gram model has no hidden_size)."""
    module, _, name = yaml.safe_load(config.read_text())["model"]["class_path"].rpartition(".")
    task = getattr(importlib.import_module(module), name)
    known = set(inspect.signature(task).parameters) | {f"net.{field}" for field in net_fields(task)}
    return [a for a in args if not a.startswith("--model.") or a[len("--model.") :].split("=")[0] in known]


SHARED = "../shared/data/"  # how recipe configs name the real datasets (relative to the repository)


def shared_paths(value: Any) -> Any:
    """A config value with each ``../shared/data/...`` path made absolute (tests run in a temporary
    directory); ``None`` when the value names no such path."""
    if isinstance(value, str) and value.startswith(SHARED):
        return str(REPO / value)
    if isinstance(value, list) and any(isinstance(v, str) and v.startswith(SHARED) for v in value):
        return [str(REPO / v) if v.startswith(SHARED) else v for v in value]
    return None


def recipe_args(section: str, init_args: dict[str, Any]) -> list[str]:
    """The real-data files of a recipe config, as overrides with absolute paths."""
    out = []
    for key, value in init_args.items():
        path = shared_paths(value)
        if path is not None:
            shown = f"[{','.join(path)}]" if isinstance(path, list) else path
            out.append(f"--data.{section}.{key}={shown}")
    return out


def tiny_args(config: Path, request: pytest.FixtureRequest) -> list[str]:
    """Overrides that make ``config`` train for seconds: tiny data of the config's own kind (built-in
    sources shrunk, file sources pointed at tiny files of their format; recipes on the real datasets
    in ../shared/data keep their real files), tiny model, 6 steps."""
    data = yaml.safe_load(config.read_text())["data"]
    data_class = data["class_path"].rsplit(".", 1)[-1]
    section = "corpus" if data_class == "LanguageModelData" else "source"
    real = recipe_args(section, data["init_args"][section].get("init_args", {}))
    if real:
        sized = ["--data.seq_len=16"] if data_class == "LanguageModelData" else []
        return [
            *real,
            *sized,
            "--data.batch_size=4",
            *request.getfixturevalue("tiny_trainer_args"),
            *request.getfixturevalue("tiny_encoder_model_args"),
        ]
    if data_class == "LanguageModelData":
        return request.getfixturevalue("tiny_fit_args")
    source = data["init_args"]["source"]
    source_class = source["class_path"].rsplit(".", 1)[-1]
    files = {
        "ClassificationFiles": "tiny_tsv",
        "LabelledFiles": "tiny_conllu"
        if source.get("init_args", {}).get("format") == "conllu"
        else "tiny_conll",
    }
    if source_class in files:
        paths = request.getfixturevalue(files[source_class])
        source_args = [f"--data.source.{split}={path}" for split, path in paths.items()]
    elif source_class == "ParallelFiles":
        pairs = request.getfixturevalue("tiny_parallel")
        source_args = [f"--data.source.{split}=[{src},{tgt}]" for split, (src, tgt) in pairs.items()]
    elif source_class == "WordLanguages":
        source_args = ["--data.source.words_per_language=150"]
    elif source_class in ("CmudictStress", "CmudictG2P"):
        source_args = ["--data.source.max_words=400"]
    elif source_class == "BuiltinSpeech":
        source_args = ["--data.source.sizes=[24,8,0]", "--data.source.workers=1"]
    else:
        raise AssertionError(f"{config}: no tiny data for source {source_class}; add it here")
    return [
        *source_args,
        "--data.batch_size=4",
        *request.getfixturevalue("tiny_trainer_args"),
        *request.getfixturevalue("tiny_encoder_model_args"),
    ]


def test_configs_exist():
    """The glob finds the shipped configs (so the parametrized tests below are not silently empty)."""
    assert any(p.parent.name == "generation" and p.name == "char_lstm.yaml" for p in CONFIGS)


RECIPES = {
    "classification/clinc150_spm_bilstm.yaml",
    "labelling/atis_upos_charbilstm.yaml",
    "labelling/wnut17_charbilstm_crf.yaml",
    "generation/war_and_peace_char_lstm.yaml",
    "transduction/enja_spm_bigru_luong.yaml",
    "transduction/fsdd_ctc_bigru.yaml",
}


def test_every_dataset_has_a_recipe_on_its_real_files():
    """One config per dataset of ../shared/data names its real files (so the training test below runs
    them on those files), and each of those files exists."""
    found = set()
    for config, name in zip(CONFIGS, IDS, strict=True):
        data = yaml.safe_load(config.read_text())["data"]
        section = "corpus" if data["class_path"].endswith("LanguageModelData") else "source"
        args = recipe_args(section, data["init_args"][section].get("init_args", {}))
        if args:
            found.add(name)
            for arg in args:
                for path in arg.split("=", 1)[1].strip("[]").split(","):
                    assert Path(path).is_file(), f"{name}: {path} is missing"
    assert found == RECIPES


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_print_config(config, capsys):
    """`fit --config X --print_config` prints a complete config holding every value the file sets."""
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    for key in ("trainer", "model", "data", "run", "seed_everything"):
        assert key in printed, f"{key} missing from the printed config"
    assert printed["model"]["class_path"]
    assert printed["data"]["class_path"]
    assert printed["run"]["name"]
    assert "max_steps" in printed["trainer"]
    assert_contains(printed, yaml.safe_load(config.read_text()), config.name)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_config_trains_on_tiny_data(config, request):
    """`fit --config X` with tiny overrides trains 6 steps and writes a loadable last.ckpt."""
    main(["fit", "--config", str(config), *accepted_args(config, tiny_args(config, request))])
    name = yaml.safe_load(config.read_text()).get("run", {}).get("name", "default")
    (run,) = (Path("runs") / name).glob("version_*")
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 6
    assert ckpt["seqlab"]["task_class"]
    assert (run / "config.yaml").is_file()
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())
