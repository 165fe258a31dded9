"""End-to-end: `seqlab diagnose gradients | grad-history | long-range` on tiny models and a tiny run."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch

from seqlab.cli import main
from seqlab.diagnose.history import read_grad_history
from seqlab.engine.build import build_from_config

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "generation" / "char_lstm.yaml")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_trained: dict[str, Path] = {}


@pytest.fixture
def run(tiny_fit_args) -> Path:
    """Absolute path of a tiny fitted char_lstm run (6 steps, gradient_clip_norm 1.0), made once."""
    if "run" not in _trained:
        main(["fit", "--config", CONFIG, *tiny_fit_args])
        _trained["run"] = Path("runs/char_lstm/version_0").resolve()
    return _trained["run"]


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000, (path, len(data))


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_gradients_compare_writes_figure_numbers_and_table(tiny_fit_args, capsys):
    """--compare rnn_tanh,lstm on the configured sizes: a PNG and a CSV of 40 finite positive norms per
    cell in a new runs/char_lstm-diagnose/version_0; the configured (lstm) model at init is the
    --compare lstm model (same seed), so it is one curve, not two."""
    args = [
        "diagnose",
        "gradients",
        "--config",
        CONFIG,
        *tiny_fit_args,
        "--seq_len",
        "40",
        "--batch_size",
        "4",
    ]
    main([*args, "--compare", "rnn_tanh,lstm"])
    out = Path("runs/char_lstm-diagnose/version_0")
    assert_png(out / "gradient_norms.png")
    header, *rows = read_csv(out / "gradient_norms.csv")
    assert header == ["distance", "rnn_tanh (init)", "lstm (init)"]
    assert [int(r[0]) for r in rows] == list(range(40))
    values = torch.tensor([[float(v) for v in r[1:]] for r in rows])
    assert torch.isfinite(values).all() and (values > 0).all()
    printed = capsys.readouterr().out
    assert "rnn_tanh (init)" in printed and str(out / "gradient_norms.png") in printed
    # The figure's title says what was measured (before: always "init = untrained").
    assert re.search(r"^measured: rnn_tanh, lstm untrained \(init, seed \d+\)$", printed, re.M)

    main([*args, "--out", "alone"])
    header_alone, *rows_alone = read_csv(Path("alone/gradient_norms.csv"))
    assert header_alone == ["distance", "lstm (init)"]
    assert [r[1] for r in rows_alone] == [r[2] for r in rows]


def test_gradients_of_a_checkpoint_go_into_its_run_and_wandb(run, capsys):
    """--ckpt_path alone takes the run's config.yaml and trained weights; figure and numbers land in
    that run directory, and an offline W&B run there holds the image."""
    main(["diagnose", "gradients", "--ckpt_path", str(run), "--seq_len", "30", "--batch_size", "4",
          "--run.wandb.mode=offline"])  # fmt: skip
    assert_png(run / "gradient_norms.png")
    header, *rows = read_csv(run / "gradient_norms.csv")
    assert header == ["distance", "lstm (trained, best.ckpt)"] and len(rows) == 30
    step = torch.load(run / "checkpoints" / "best.ckpt", weights_only=False)["global_step"]
    # Before, a trained model's figure was titled "init = untrained".
    printed = capsys.readouterr().out
    assert f"measured: lstm trained (best.ckpt, step {step})\n" in printed
    (offline,) = (run / "wandb").glob("offline-run-*")  # the fit itself had W&B disabled
    (image,) = (offline / "files" / "media" / "images" / "diagnose").glob("gradient_norms_*.png")
    assert image.read_bytes().startswith(PNG_MAGIC)
    assert "W&B (offline)" in printed


def test_grad_history_plots_runs_with_and_without_clipping(run, tmp_path, capsys):
    """grad-history reads train/grad_norm per step and each run's clipping from its config.yaml; a run
    whose config has gradient_clip_norm null is labelled as unclipped."""
    history = read_grad_history(run)
    assert history.steps == list(range(6)) and history.clip == 1.0
    assert all(n > 0 for n in history.norms)

    unclipped = tmp_path / "noclip" / "version_0"
    unclipped.mkdir(parents=True)
    (unclipped / "metrics.csv").write_text((run / "metrics.csv").read_text())
    config = (run / "config.yaml").read_text().replace("gradient_clip_norm: 1.0", "gradient_clip_norm: null")
    (unclipped / "config.yaml").write_text(config)

    main(["diagnose", "grad-history", str(run), str(unclipped), "--output", "history.png"])
    assert_png(Path("history.png"))
    printed = capsys.readouterr().out
    assert "char_lstm/version_0 (clip 1)" in printed and "noclip/version_0 (no clipping)" in printed
    assert read_grad_history(unclipped).clip is None

    # A crash left a cut last row and bytes that are not UTF-8: the readable rows still count.
    with (unclipped / "metrics.csv").open("ab") as file:
        file.write(b"7,\xff\x00\x00garb")
    assert read_grad_history(unclipped).steps == history.steps


def test_long_range_writes_accuracy_figure(capsys):
    """Two cells x two lengths x two seeds: a PNG, a CSV of mean accuracies, a line per model."""
    tiny = ["--steps", "10", "--hidden_size", "8", "--eval_size", "50", "--repeats", "2"]
    main(
        [
            "diagnose",
            "long-range",
            "--cells",
            "lstm,gru",
            "--lengths",
            "3,6",
            *tiny,
            "--wandb_mode",
            "disabled",
        ]
    )
    out = Path("runs/long_range/version_0")
    assert_png(out / "long_range.png")
    header, *rows = read_csv(out / "long_range.csv")
    assert header == ["cell", "3", "6"] and [r[0] for r in rows] == ["lstm", "gru"]
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])
    printed = capsys.readouterr().out
    assert "chance: 0.125" in printed and printed.count("seed 1: accuracy") == 4


def test_bad_input_fails_with_a_clear_message(tmp_path, capsys):
    """A misspelt config key on the command line is named with the nearest valid key (before: the
    file and jsonargparse's wording); no config at all, an unknown verb and a directory that is not a
    run each fail without a traceback."""
    with pytest.raises(SystemExit) as typo:
        main(["diagnose", "gradients", "--config", CONFIG, "--model.hiden_size=8"])
    assert "unknown key --model.hiden_size; did you mean --model.net.hidden_size?" in str(typo.value.code)

    with pytest.raises(SystemExit) as no_config:
        main(["diagnose", "gradients"])
    assert no_config.value.code == 2
    assert "--config" in capsys.readouterr().err

    with pytest.raises(SystemExit) as verb:
        main(["diagnose", "gradient"])
    assert "grad-history" in str(verb.value.code)

    with pytest.raises(SystemExit) as not_a_run:
        main(["diagnose", "grad-history", str(tmp_path)])
    assert not_a_run.value.code == 2
    assert "metrics.csv" in capsys.readouterr().err


def test_build_from_a_run_config_loads_the_checkpoint_weights(run):
    """The config.yaml that `fit` saved (with its fit-only keys) builds the same task class, and
    --ckpt_path loads exactly the checkpoint's weights into it."""
    built = build_from_config(run / "config.yaml", ckpt_path=run)
    assert built.checkpoint == run / "checkpoints" / "best.ckpt"
    assert type(built.task).__name__ == "GenerationTask" and built.seed == 1234
    saved = torch.load(built.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    for key, value in built.task.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)
