"""Lightning flags that used to do something other than what the user wrote (issue 17): a whole
number of validation batches, the run's root directory, the CLI's own optimizer flag, and the
validation of the weights a fit ends with."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import yaml

from seqlab.cli import main
from seqlab.engine.trainer_flags import written_as_whole_numbers
from seqlab.engine.training_cli import run_training

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "generation" / "char_lstm.yaml"


class Validations(L.Callback):
    """Records, per validation of the fit, the global step and how many batches it evaluated."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.runs.append((trainer.global_step, 0))

    def on_validation_batch_end(self, trainer: L.Trainer, *args: object, **kwargs: object) -> None:
        if not trainer.sanity_checking:
            step, batches = self.runs[-1]
            self.runs[-1] = (step, batches + 1)


def fit(args: list[str], *extra: str) -> tuple[Validations, L.Trainer]:
    seen = Validations()
    cli = run_training(["fit", "--config", str(CONFIG), *args, *extra], callbacks=[seen])
    return seen, cli.trainer


def test_whole_numbers_are_read_as_written(tmp_path: Path) -> None:
    """jsonargparse parses `1` and `1.0` both as 1.0; the last value written decides."""
    yaml_one = tmp_path / "one.yaml"
    yaml_one.write_text("trainer:\n  limit_val_batches: 1\n  limit_train_batches: 0.5\n")
    assert written_as_whole_numbers(["fit", "-c", str(yaml_one)]) == {"limit_val_batches": 1}
    later = ["fit", "-c", str(yaml_one), "--trainer.limit_val_batches", "1.0"]
    assert written_as_whole_numbers(later) == {}
    assert written_as_whole_numbers(["fit", "--trainer.limit_test_batches=3"]) == {"limit_test_batches": 3}


def test_one_validation_batch_and_a_final_validation(tiny_fit_args: list[str], capsys) -> None:
    """`--trainer.limit_val_batches 1` used to evaluate the whole validation set (Lightning got 1.0), and a
    fit ending on max_steps=4 with validations every 3 batches ended unvalidated (no final line)."""
    seen, trainer = fit(tiny_fit_args, "--trainer.limit_val_batches", "1", "--trainer.max_steps=4")
    assert all(batches == 1 for _, batches in seen.runs), seen.runs
    assert seen.runs[-1][0] == trainer.global_step  # the weights the run ends with were validated
    out = capsys.readouterr().out
    assert "final validation: " in out and "val/loss=" in out


def test_no_final_validation_when_validation_is_off(tiny_fit_args: list[str], capsys) -> None:
    seen, _ = fit(tiny_fit_args, "--trainer.limit_val_batches=0", "--trainer.max_steps=4")
    assert seen.runs == []
    assert "final validation" not in capsys.readouterr().out


def test_default_root_dir_is_the_runs_root(tiny_fit_args: list[str]) -> None:
    """The run's checkpoints, config and status used to go to runs/ whatever default_root_dir said."""
    fit(tiny_fit_args, "--trainer.default_root_dir=elsewhere", "--trainer.max_steps=3")
    run = Path("elsewhere") / "char_lstm" / "version_0"
    for name in ("checkpoints/last.ckpt", "config.yaml", "status.json", "metrics.csv"):
        assert (run / name).is_file(), name
    assert not Path("runs").exists()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--trainer.default_root_dir=a", "--run.root_dir=b"], "give that one only"),
        (["--trainer.default_root_dir=a", "--run.dir=b"], "give one"),
        (["--optimizer", "SGD"], "use --model.optimizer SGD"),
        (["--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "2"], "use --model.lr_scheduler StepLR"),
    ],
)
def test_conflicting_flags_are_refused(flags: list[str], words: str, capsys) -> None:
    """`--optimizer SGD` used to replace the config's AdamW without a word."""
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(CONFIG), *flags])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not Path("runs").exists() and not Path("a").exists()


def test_quick_run(tiny_fit_args: list[str], capsys) -> None:
    """`--run.quick true` over the experiment's 1200 steps and W&B: 40 steps, validation every 20 on at
    most 5 batches, no W&B run; a --trainer flag beside it wins (limit_val_batches=2)."""
    data_and_model = [a for a in tiny_fit_args if not a.startswith(("--trainer.", "--run."))]
    seen, trainer = fit(data_and_model, "--run.quick=true", "--trainer.limit_val_batches=2")
    assert trainer.global_step == 40
    assert seen.runs == [(20, 2), (40, 2)]
    assert not (Path("runs") / "char_lstm" / "version_0" / "wandb").exists()
    assert "seqlab: quick run: max_steps=40" in capsys.readouterr().err


def test_print_config_shows_what_the_run_uses(capsys) -> None:
    """`--print_config` used to show `limit_val_batches: 1.0` (Lightning's parse: all batches) for a
    `1` that seqlab runs as one batch; and the demo's whole-number val_check_interval counts batches
    across epochs (check_val_every_n_epoch null) unless that key is written."""
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(CONFIG), "--trainer.limit_val_batches", "1", "--print_config"])
    assert exit_.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["limit_val_batches"] == 1 and isinstance(
        printed["trainer"]["limit_val_batches"], int
    )
    assert printed["trainer"]["val_check_interval"] == 300
    assert printed["trainer"]["check_val_every_n_epoch"] is None
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(CONFIG), "--trainer.check_val_every_n_epoch=2", "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out)["trainer"]["check_val_every_n_epoch"] == 2


G2P = REPO / "configs" / "transduction" / "g2p_bilstm_attention.yaml"


def test_quick_run_caps_the_batch_size(capsys) -> None:
    """The G2P experiment's 256 examples a batch made its quick run 4.5 minutes on 2 cores: quick caps
    it at 32 (and says so), while a --data.batch_size given beside it wins."""
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(G2P), "--run.quick", "true", "--print_config"])
    assert exit_.value.code == 0
    captured = capsys.readouterr()
    assert yaml.safe_load(captured.out)["data"]["init_args"]["batch_size"] == 32
    assert "data.batch_size=32 (was 256)" in captured.err
    with pytest.raises(SystemExit):
        main(
            ["fit", "--config", str(G2P), "--run.quick", "true", "--data.batch_size", "64", "--print_config"]
        )
    captured = capsys.readouterr()
    assert yaml.safe_load(captured.out)["data"]["init_args"]["batch_size"] == 64
    assert "data.batch_size" not in captured.err
