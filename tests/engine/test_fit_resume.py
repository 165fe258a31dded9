"""End-to-end: a fit writes a complete run directory; resuming continues the same run; validate/test
evaluate a checkpoint to the value the fit logged."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import torch
import yaml

from seqlab.cli import main
from seqlab.engine.checkpoints import nothing_left_to_train

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


def fit(tiny_fit_args: list[str], *extra: str) -> None:
    main(["fit", "--config", str(CONFIG), *tiny_fit_args, *extra])


def run_dir(version: int = 0) -> Path:
    return Path("runs") / "char_lstm" / f"version_{version}"


def load(path: Path) -> dict:
    """Checkpoints must load without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


def metric_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def val_losses(rows: list[dict[str, str]]) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["val/loss"])) for r in rows if r.get("val/loss")]


def train_losses(rows: list[dict[str, str]]) -> dict[int, float]:
    return {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}


def checkpoint_callback_state(ckpt: dict) -> dict:
    """The ModelCheckpoint's own state among the callbacks' states a checkpoint holds."""
    (state,) = [v for k, v in ckpt["callbacks"].items() if k.startswith("_Checkpoint")]
    return state


def adamw_steps(ckpt: dict) -> list[float]:
    (opt,) = ckpt["optimizer_states"]
    return [float(s["step"]) for s in opt["state"].values()]


def reported(stdout: str, key: str) -> float:
    """A metric from the table Lightning prints after validate/test."""
    match = re.search(rf"^\s*{re.escape(key)}\s+([-+0-9.eE]+)\s*$", stdout, re.MULTILINE)
    assert match, f"{key} not reported in:\n{stdout}"
    return float(match.group(1))


def test_fit_writes_complete_run_directory(tiny_fit_args):
    """A 6-step fit writes version_0 with the resolved config, safe best/last checkpoints and metrics."""
    fit(tiny_fit_args, "--model.net.hidden_size=24")
    run = run_dir(0)
    assert (Path("runs/char_lstm/latest")).resolve() == run.resolve()

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["init_args"]["net"]["hidden_size"] == 24
    assert config["trainer"]["max_steps"] == 6
    assert config["run"]["name"] == "char_lstm"

    last = load(run / "checkpoints" / "last.ckpt")
    best = load(run / "checkpoints" / "best.ckpt")
    assert last["global_step"] == 6
    assert last["state_dict"]["model.rnn.rnn.weight_hh_l0"].shape == (4 * 24, 24)
    assert last["seqlab"]["task_class"] == "seqlab.tasks.generation.GenerationTask"

    vals = val_losses(metric_rows(run / "metrics.csv"))
    assert len(vals) == 2, vals  # validation after steps 3 and 6
    assert all(math.isfinite(v) for _, v in vals)
    state = checkpoint_callback_state(best)
    assert float(state["best_model_score"]) == pytest.approx(min(v for _, v in vals), abs=1e-5)


def test_resume_from_last_continues_same_run(tiny_fit_args):
    """`--ckpt_path last` resumes in the same version_0: step count, AdamW state and metrics history
    continue; the original config.yaml is kept and the resumed command's config is added beside it."""
    fit(tiny_fit_args)
    run = run_dir(0)
    config_before = (run / "config.yaml").read_bytes()
    rows_before = metric_rows(run / "metrics.csv")
    assert max(train_losses(rows_before)) == 5

    fit(tiny_fit_args, "--ckpt_path", "last", "--trainer.max_steps=12")

    assert sorted(p.name for p in run.parent.iterdir()) == ["latest", "version_0"]
    last = load(run / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 12
    n_params = len(last["state_dict"])
    steps = adamw_steps(last)
    assert len(steps) == n_params
    assert steps == [12.0] * n_params  # optimizer state continued, not restarted at 0

    rows_after = metric_rows(run / "metrics.csv")
    old = train_losses(rows_before)
    new = train_losses(rows_after)
    assert {s: new[s] for s in old} == old  # history from before the resume is kept
    assert sorted(new) == list(range(12))
    assert [s for s, _ in val_losses(rows_after)] == [2, 5, 8, 11]

    assert (run / "config.yaml").read_bytes() == config_before
    added = sorted(p.name for p in run.glob("config*.yaml") if p.name != "config.yaml")
    assert added == ["config.fit-1.yaml"]
    assert yaml.safe_load((run / "config.fit-1.yaml").read_text())["trainer"]["max_steps"] == 12


def test_last_ckpt_holds_final_step_after_resume(tiny_fit_args):
    """After `--ckpt_path last --trainer.max_steps=10`, last.ckpt is the state at step 10 (even though
    the last validation ran at step 9), with AdamW's step at 10 for every parameter."""
    fit(tiny_fit_args)
    fit(tiny_fit_args, "--ckpt_path", "last", "--trainer.max_steps=10")
    last = load(run_dir(0) / "checkpoints" / "last.ckpt")
    assert not run_dir(1).exists()
    assert last["global_step"] == 10
    assert adamw_steps(last) == [10.0] * len(last["state_dict"])


def test_resume_with_nothing_left_to_train_says_so_and_changes_nothing(tiny_fit_args, capsys):
    """Resuming a run already at ``--trainer.max_steps`` (a finished job requeued, or a limit typed
    below what was reached) used to end at once without a word. Now one line says why nothing was
    trained, and the checkpoints and metrics stay byte for byte."""
    fit(tiny_fit_args)
    run = run_dir(0)
    before = {p.name: p.read_bytes() for p in [*run.glob("checkpoints/*.ckpt"), run / "metrics.csv"]}
    capsys.readouterr()
    fit(tiny_fit_args, "--ckpt_path", "last", "--trainer.max_steps=4")
    err = capsys.readouterr().err
    assert "seqlab: nothing to train: the checkpoint is at step 6 and --trainer.max_steps 4 is reached" in err
    after = {p.name: p.read_bytes() for p in [*run.glob("checkpoints/*.ckpt"), run / "metrics.csv"]}
    assert after == before
    last = load(run / "checkpoints" / "last.ckpt")
    assert nothing_left_to_train(last, max_epochs=1, max_steps=-1) is None  # epoch 0 is not over
    last["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] = 1
    assert nothing_left_to_train(last, max_epochs=1, max_steps=-1) == (
        "the checkpoint has trained 1 epoch and --trainer.max_epochs 1 is reached"
    )
    fit(tiny_fit_args, "--ckpt_path", "last", "--trainer.max_steps=8")
    assert "nothing to train" not in capsys.readouterr().err
    assert load(run / "checkpoints" / "last.ckpt")["global_step"] == 8


def test_resume_from_checkpoint_file_then_fresh_fit_takes_next_version(tiny_fit_args):
    """`--ckpt_path <file>` resumes in the checkpoint's run directory; a fit without a checkpoint
    starts version_1 and moves `latest` there."""
    fit(tiny_fit_args)
    ckpt = run_dir(0) / "checkpoints" / "last.ckpt"
    fit(tiny_fit_args, "--ckpt_path", str(ckpt), "--trainer.max_steps=9")
    assert not run_dir(1).exists()
    resumed = load(ckpt)
    assert resumed["global_step"] == 9
    assert adamw_steps(resumed) == [9.0] * len(resumed["state_dict"])

    fit(tiny_fit_args)
    assert load(run_dir(1) / "checkpoints" / "last.ckpt")["global_step"] == 6
    assert load(ckpt)["global_step"] == 9  # the first run is untouched
    assert Path("runs/char_lstm/latest").resolve() == run_dir(1).resolve()


def test_run_dir_binds_a_run_to_its_directory(tiny_fit_args):
    """`--run.dir D --ckpt_path last` starts fresh in D, then resumes from D's own last.ckpt, not from a
    newer run of the same name (how a requeued cluster job finds its checkpoint)."""
    job = Path("runs/char_lstm/job-17")
    fit(tiny_fit_args, f"--run.dir={job}", "--ckpt_path=last")
    fit(tiny_fit_args)  # another run of the same name, newer than the job's checkpoint
    fit(tiny_fit_args, f"--run.dir={job}", "--ckpt_path=last", "--trainer.max_steps=9")
    assert load(job / "checkpoints" / "last.ckpt")["global_step"] == 9
    assert load(run_dir(0) / "checkpoints" / "last.ckpt")["global_step"] == 6
    assert sorted(train_losses(metric_rows(job / "metrics.csv"))) == list(range(9))
    assert sorted(p.name for p in job.parent.iterdir()) == ["job-17", "latest", "version_0"]


def test_resume_matches_uninterrupted_training(tiny_fit_args):
    """Resuming at step 6 trains on the same data with the same carried state as a run that never
    stopped: train/loss of steps 6-8 and the step-9 val/loss agree (dropout off, fp32)."""
    exact = [*tiny_fit_args, "--model.net.dropout=0", "--trainer.precision=32-true"]
    fit(exact, "--run.name=split")
    fit(exact, "--run.name=split", "--ckpt_path", "last", "--trainer.max_steps=9")
    fit(exact, "--run.name=whole", "--trainer.max_steps=9")
    split = metric_rows(Path("runs/split/version_0/metrics.csv"))
    whole = metric_rows(Path("runs/whole/version_0/metrics.csv"))
    for step in range(6):  # sanity: identical before the interruption
        assert train_losses(split)[step] == pytest.approx(train_losses(whole)[step], abs=1e-6)
    resumed = {s: train_losses(split)[s] for s in (6, 7, 8)}
    straight = {s: train_losses(whole)[s] for s in (6, 7, 8)}
    assert resumed == pytest.approx(straight, abs=1e-4)
    assert val_losses(split)[-1] == pytest.approx(val_losses(whole)[-1], abs=1e-4)


def test_validate_and_test_evaluate_checkpoint(tiny_fit_args, capsys):
    """`validate --ckpt_path last.ckpt` reports the val/loss the fit logged for that checkpoint and
    `test` reports a finite test/loss; both record into the run directory (evals/<verb>-0)."""
    fit(tiny_fit_args)
    run = run_dir(0)
    ckpt = run / "checkpoints" / "last.ckpt"
    logged = val_losses(metric_rows(run / "metrics.csv"))[-1][1]
    state = checkpoint_callback_state(load(ckpt))
    assert float(state["current_score"]) == pytest.approx(logged, abs=1e-5)
    capsys.readouterr()

    main(["validate", "--config", str(CONFIG), *tiny_fit_args, "--ckpt_path", str(ckpt)])
    val_loss = reported(capsys.readouterr().out, "val/loss")
    assert val_loss == pytest.approx(logged, abs=1e-5)

    main(["test", "--config", str(CONFIG), *tiny_fit_args, "--ckpt_path", str(ckpt)])
    test_loss = reported(capsys.readouterr().out, "test/loss")
    vocab = load(ckpt)["state_dict"]["model.output.bias"].numel()
    assert 0 < test_loss < math.log(vocab) + 1
    assert not run_dir(1).exists()


def test_model_options_on_the_command_line_win_over_the_checkpoints(tiny_fit_args):
    """Lightning takes a checkpoint's hyperparameters over the config; seqlab lets the options written
    on the command line (an evaluation setting) win, and leaves the others to the checkpoint."""
    main(["fit", "--config", str(CONFIG), *tiny_fit_args, "--model.net.dropout=0.25"])
    run = Path("runs/char_lstm/version_0")
    args = [a for a in tiny_fit_args if not a.startswith("--model.")]
    main(
        [
            "validate",
            "--config",
            str(CONFIG),
            *args,
            "--ckpt_path",
            "last",
            "--model.init_args.net.dropout=0.05",
        ]
    )
    validated = yaml.safe_load((run / "evals/validate-0/config.yaml").read_text())["model"]["init_args"]
    assert validated["net"]["dropout"] == 0.05  # given on the command line
    assert validated["net"]["hidden_size"] == 32  # from the checkpoint (the config file says 512)
