"""`seqlab VERB --help`, a misspelt option, and the verbs that need no model answer without importing
torch, Lightning, Ray or W&B (before: 7-12 s of imports on an idle 2-core CPU, 13-25 s on a loaded one,
just to print a usage). Each command runs in a fresh interpreter, so this test process's own imports
do not count; each prints the heavy packages it loaded, and the test fails if there is one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "lightning", "pytorch_lightning", "ray", "wandb")
REPO = Path(__file__).resolve().parents[1]

# Runs `seqlab ARGS...` through the cli's main and prints, as the last line, its exit status and the
# heavy packages it imported.
RUN = """
import json, sys
from seqlab.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
sys.stdout.flush()
print(json.dumps({"code": code, "heavy": loaded}))
"""


def seqlab(*args: str, cwd: Path = REPO) -> tuple[int, list[str], str, str]:
    """(exit status, heavy packages imported, stdout, stderr) of `seqlab ARGS` in a fresh interpreter."""
    code = f"HEAVY = {HEAVY!r}\n{RUN}"
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    *out, last = result.stdout.rstrip("\n").split("\n")
    status = json.loads(last)
    return status["code"], status["heavy"], "\n".join(out), result.stderr


NON_TRAINING = [
    ["generate"],
    ["predict"],
    ["decode"],
    ["transcribe"],
    ["export"],
    ["tune"],
    ["submit"],
    ["submit", "slurm"],
    ["submit", "ray"],
    ["submit", "k8s"],
    ["jobs"],
    ["runs"],
    ["report"],
    ["diagnose"],
    ["diagnose", "gradients"],
    ["diagnose", "grad-history"],
    ["diagnose", "long-range"],
    ["dashboard"],
]


def test_the_list_above_has_every_verb_that_is_not_lightning_s():
    """A verb added to seqlab.cli.VERBS later is checked here too, not silently left out."""
    from seqlab.cli import TRAINING, VERBS

    listed = {words[0] for words in NON_TRAINING}
    assert listed == {verb for verb, entry in VERBS.items() if entry != TRAINING}


@pytest.mark.parametrize("words", NON_TRAINING, ids=" ".join)
def test_help_of_every_non_training_verb_imports_nothing_heavy(words):
    """Before: `seqlab decode --help` imported torch, Lightning and every task (7.4 s idle)."""
    code, heavy, out, err = seqlab(*words, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: seqlab {' '.join(words)}"), out[:200]
    assert heavy == [], f"seqlab {' '.join(words)} --help imported {heavy}"


@pytest.mark.parametrize(
    ("verb", "wrong", "right"),
    [
        ("generate", "--max_new_token", "--max_new_tokens"),  # a prefix is not taken for the option
        ("generate", "--temperatur", "--temperature"),
        ("predict", "--inptu", "--input"),
        ("decode", "--beam_sise", "--beam_size"),
        ("transcribe", "--word_lst", "--word_list"),
        ("tune", "--swep", "--sweep"),
        ("tune", "--confg", "--config"),
    ],
)
def test_misspelt_option_is_one_line_with_the_nearest(verb, wrong, right):
    """Before: jsonargparse's usage block, a `tip:` line and `unrecognized arguments: --beam_sise 2`
    (argparse's for tune), after importing torch."""
    code, heavy, _, err = seqlab(verb, wrong, "2")
    assert code == 2
    assert err.strip().splitlines() == [
        f"seqlab: error: unknown key {wrong}; did you mean {right}? (seqlab {verb} --help lists the keys)"
    ]
    assert heavy == []


def test_runs_lists_runs_without_torch(tmp_path):
    """`seqlab runs` reads status files only: no torch (before: it imported Lightning via run_dir)."""
    (tmp_path / "runs").mkdir()
    code, heavy, out, err = seqlab("runs", cwd=tmp_path)
    assert (code, heavy) == (0, []), err
    assert out.strip() == "no runs under runs"


def test_submit_dry_run_without_torch(tmp_path):
    """`seqlab submit slurm --dry-run` prints the batch script and loads no torch."""
    config = REPO / "configs" / "generation" / "char_lstm.yaml"
    code, heavy, out, err = seqlab(
        "submit", "slurm", "--config", str(config), "--dry-run", "--python", "python3", cwd=tmp_path
    )
    assert (code, heavy) == (0, []), err
    assert "#SBATCH" in out and "seqlab fit" in out


def test_the_training_entry_registers_the_progress_reader():
    """Importing seqlab.engine no longer registers it (that imported Lightning): the training entry
    and the tasks must, or a resumed run's loaders would not know where to pick up."""
    for module in ("seqlab.engine.training_cli", "seqlab.tasks"):
        code = (
            f"import {module}\n"
            "from seqlab.data.modules import batching\n"
            "print(batching._progress_reader is not None)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert result.stdout.strip() == "True", (module, result.stderr[-2000:])


def test_lazy_exports_keep_class_paths_and_names():
    """`seqlab.data.TextFiles`, `from seqlab.data import X`, DATA_MODULES and RENAMED work as before,
    and importing the package loads none of them (a misspelt name is still an AttributeError)."""
    code = (
        "import sys\n"
        "import seqlab.data, seqlab.nn\n"
        "assert 'torch' not in sys.modules, 'importing seqlab.data or seqlab.nn imported torch'\n"
        "from seqlab.data import DATA_MODULES, RENAMED, TextFiles\n"
        "from seqlab.nn import Seq2Seq\n"
        "assert seqlab.data.TextFiles is TextFiles and TextFiles.__module__ == 'seqlab.data.sources.text'\n"
        "assert [c.__name__ for c in DATA_MODULES][:2] == ['ClassificationData', 'LabellingData']\n"
        "assert RENAMED['TaggingData'] == 'LabellingData'\n"
        "try:\n    seqlab.data.TextFile\nexcept AttributeError as err:\n    print('missing:', err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "missing: module 'seqlab.data' has no attribute 'TextFile'" in result.stdout
