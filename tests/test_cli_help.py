"""`seqlab --help` lists every verb, grouped; a word that is not a verb is named with the nearest verb;
each verb's usage line carries its name; the top-level help imports nothing heavy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.cli import GROUPS, VERBS, main

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_verb_once_in_a_group(capsys):
    """Before: the help listed Lightning's fit/validate/test/predict only."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    grouped = [verb for verbs in GROUPS.values() for verb in verbs]
    assert sorted(grouped) == sorted(VERBS)
    for group in ("train:", "use a model:", "sweep:", "cluster:", "inspect:"):
        assert group in out
    for verb in VERBS:
        assert f"\n  {verb} " in out, verb
    assert "Run inference on your data" not in out  # Lightning's description of its own predict


@pytest.mark.parametrize(
    ("word", "nearest"), [("fitt", "fit"), ("trancribe", "transcribe"), ("frobnicate", None)]
)
def test_not_a_verb_names_it_and_the_nearest(capsys, word, nearest):
    """Before: "choose from 'fit', 'validate', 'test', 'predict'" after Lightning's usage."""
    with pytest.raises(SystemExit) as exit_info:
        main([word, "--config", "x.yaml"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"seqlab: error: {word!r} is not a verb" in err
    assert ("did you mean" in err) == (nearest is not None)
    if nearest:
        assert f"did you mean {nearest}?" in err
    assert "generate, predict, decode, transcribe" in err


def test_top_level_help_imports_no_heavy_package():
    """`seqlab --help` must not import torch or Lightning (before: 13-18 s to import them on a loaded
    machine); run in a fresh interpreter so that this test process's imports do not count."""
    code = (
        "import sys\n"
        "from seqlab.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'lightning', 'ray', 'wandb', 'datasets', 'jsonargparse')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


@pytest.mark.parametrize("verb", ["fit", "validate", "test"])
def test_training_verb_usage_carries_its_name(capsys, monkeypatch, recwarn, verb):
    """Before: `usage: seqlab [options] fit ...` (jsonargparse's prog for a subcommand). Run as the
    console script runs it (sys.argv, no argv): Lightning warns if it is handed both."""
    monkeypatch.setattr(sys, "argv", ["seqlab", verb, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: seqlab {verb} ")
    assert not [w for w in recwarn if "args parameter" in str(w.message)]


@pytest.mark.parametrize("verb", ["generate", "runs", "tune", "jobs"])
def test_other_verb_usage_carries_its_name(capsys, verb):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    assert capsys.readouterr().out.startswith(f"usage: seqlab {verb} ")


def test_lightning_predict_is_not_a_training_verb(capsys):
    """`seqlab predict` is seqlab's file-in/labels-out command; Lightning's predict is not offered."""
    from seqlab.engine.training_cli import SeqlabCLI

    assert set(SeqlabCLI.subcommands()) == {"fit", "validate", "test"}


def _fit_help(package_parent: Path, cache: Path) -> tuple[str, list[str]]:
    """stdout of `seqlab fit --help` with seqlab imported from `package_parent` and the help cache in
    `cache`, and whether Lightning was imported (a kept text needs none)."""
    code = (
        "import sys\n"
        "sys.argv = ['seqlab', 'fit', '--help']\n"
        "from seqlab.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print('LIGHTNING', 'lightning' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(package_parent), "SEQLAB_CACHE": str(cache), "COLUMNS": "100"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=package_parent, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    *text, loaded = result.stdout.rstrip("\n").split("\n")
    return "\n".join(text), loaded.split()[1:]


def test_fit_help_is_kept_and_a_source_edit_renders_it_again(tmp_path):
    """The second `seqlab fit --help` prints the kept text without importing Lightning; after a
    docstring in seqlab's source changes (in a copy of the package), the text is rendered again and
    shows the change: the kept text is keyed by seqlab's files, it is never stale."""
    shutil.copytree(
        REPO / "seqlab", tmp_path / "src" / "seqlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    cache = tmp_path / "cache"
    first, loaded = _fit_help(tmp_path / "src", cache)
    assert first.startswith("usage: seqlab fit ") and loaded == ["True"]
    again, loaded = _fit_help(tmp_path / "src", cache)
    assert again == first and loaded == ["False"]

    run_dir = tmp_path / "src" / "seqlab" / "engine" / "run_dir.py"
    source = run_dir.read_text()
    assert "name: run name; the run directory" in source
    run_dir.write_text(
        source.replace("name: run name; the run directory", "name: RENAMED-IN-TEST; the run directory")
    )
    edited, loaded = _fit_help(tmp_path / "src", cache)
    assert "RENAMED-IN-TEST" in edited and loaded == ["True"]
    assert len(list((cache / "help").iterdir())) == 1  # the stale text is gone
