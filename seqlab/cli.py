"""The one entry point: ``seqlab fit | validate | test | generate | predict | decode | diagnose | tune |
submit | jobs``.

Training verbs are Lightning's (``LightningCLI``: YAML configs, ``--print_config``, overrides of
any key); ``generate`` samples from a trained language model; ``predict`` labels or tags a file with
a trained classifier or tagger; ``decode`` runs a trained encoder-decoder; ``diagnose`` looks at
gradient flow; ``tune`` runs a hyperparameter sweep on Ray Tune.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from seqlab.data.text_files import DataError
from seqlab.engine import run_dir as runs
from seqlab.engine.build import ConfigError, add_seqlab_arguments
from seqlab.engine.callbacks import RandomState, SaveResolvedConfig, checkpoint_callback
from seqlab.engine.checkpoints import AtomicCheckpointIO, CheckpointError, read_checkpoint
from seqlab.engine.compatibility import check_fits, check_task
from seqlab.engine.config_files import check_config_arguments
from seqlab.engine.errors import UserError
from seqlab.engine.loggers import build_loggers, log_artifact, tokenizer_files
from seqlab.engine.outputs import OutputError
from seqlab.engine.preemption import PREEMPTED_EXIT_CODE, Preemption
from seqlab.engine.run_status import read_status, write_status


class SeqlabCLI(LightningCLI):
    """LightningCLI with seqlab's run directory, loggers and checkpoints.

    Nothing is written before the config, data and checkpoint have been checked: the run directory
    is chosen in ``instantiate_trainer``, after the model and data are built. A command that fails
    removes the directories it created if they hold no results, and puts ``latest`` back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._checkpoint: dict[str, Any] | None = None  # read once, for the checks, then dropped
        self._created: list[tuple[Path, bool, str | None]] = []  # (dir, moved `latest`, its old target)
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self._discard_new_records()
            raise

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_seqlab_arguments(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        self._raw_args = list(sys.argv[1:] if args is None else args)
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        """Lightning replaces the model's config with the checkpoint's hyperparameters; model options
        written on the command line (``seqlab test ... --model.init_args.eval_beam_size 8``) win."""
        subcommand = self.config.get("subcommand")
        given: dict[str, Any] = {}
        if subcommand:
            config = self.config[subcommand]
            self._resolve_ckpt_path(config)
            if config.get("ckpt_path"):
                # Before Lightning swaps the config's model class for the checkpoint's.
                self._checkpoint = read_checkpoint(config.ckpt_path)
                class_path = getattr(config.model, "class_path", None)
                check_task(config.ckpt_path, self._checkpoint, class_path, subcommand)
            init_args = self.config[subcommand].model.get("init_args")
            for arg in getattr(self, "_raw_args", []):
                if not isinstance(arg, str) or not arg.startswith("--model."):
                    continue
                parts = [p for p in arg[2:].split("=", 1)[0].split(".")[1:] if p != "init_args"]
                if parts and init_args is not None and parts[0] in init_args:
                    given[parts[0]] = init_args[parts[0]]
        super()._parse_ckpt_path()
        for key, value in given.items():
            self.config[subcommand].model.init_args[key] = value

    @staticmethod
    def _resolve_ckpt_path(config: Any) -> None:
        """``last`` and run directories become checkpoint files (before Lightning reads their
        hyperparameters)."""
        run = config.run
        ckpt = config.get("ckpt_path")
        if ckpt == "last":
            found = (
                runs.latest_checkpoint(Path(run.dir)) if run.dir else runs.find_last(run.root_dir, run.name)
            )
            if found is None:
                where = run.dir or f"{run.root_dir}/{run.name}/"
                print(f"seqlab: no last.ckpt under {where}; starting a new run", file=sys.stderr)
            config.ckpt_path = str(found) if found else None
        elif ckpt:
            config.ckpt_path = str(runs.resolve_checkpoint(ckpt))

    def _prepare_run(self) -> None:
        """Check the checkpoint against the model and data just built, then choose the run directory
        and the one this command records into (``self.log_dir``: the run's, or an evaluation's)."""
        config = self.config[self.subcommand]
        if self._checkpoint is not None:
            checkpoint, self._checkpoint = self._checkpoint, None
            check_fits(config.ckpt_path, checkpoint, self.model, self.datamodule, self.subcommand)
        self.run_dir, self.log_dir = self._record_dirs(config.run, config.get("ckpt_path"))

    def _record_dirs(self, run: Any, ckpt_path: str | None) -> tuple[Path, Path]:
        """A fit records into its run directory (new, or the checkpoint's when resuming); ``validate``
        and ``test`` of an existing run into ``<run>/evals/<verb>-<n>``, leaving the fit's files alone."""
        inherited = os.environ.get(runs.RUN_DIR_ENV)
        rank_zero = _launched_as_rank_zero()
        if inherited and not rank_zero:  # a DDP child joins rank 0's run
            return Path(inherited), Path(os.environ.get(runs.LOG_DIR_ENV) or inherited)
        created = False
        if run.dir:
            run_dir = Path(run.dir).resolve()
            created = not run_dir.is_dir()
            with runs.writing(run_dir, "creating it"):
                run_dir.mkdir(parents=True, exist_ok=True)  # every rank of a cluster job may try
            owns_latest = run_dir.parent == (Path(run.root_dir) / run.name).resolve()
        else:
            run_dir = runs.run_dir_of_checkpoint(Path(ckpt_path)) if ckpt_path else None
            if run_dir is None or not run_dir.is_dir():
                run_dir, created = runs.new_run_dir(run.root_dir, run.name), True
            owns_latest = True
        evaluation = self.subcommand != "fit" and not created
        if not rank_zero:  # started on its own (srun): only rank 0 records, into what it chooses
            return run_dir, run_dir
        moved, previous = False, runs.read_latest(run_dir.parent)
        if owns_latest and not evaluation:
            runs.point_latest(run_dir)
            moved = True
        if created:
            self._created.append((run_dir, moved, previous))
        log_dir = run_dir
        if evaluation:
            log_dir = runs.new_eval_dir(run_dir, self.subcommand)
            self._created.append((log_dir, False, None))
        fit = self.subcommand == "fit"
        records = "config, metrics, checkpoints and status" if fit else "config and metrics"
        runs.check_writable(log_dir, f"{self.subcommand} writes its {records} there")
        os.environ[runs.RUN_DIR_ENV], os.environ[runs.LOG_DIR_ENV] = str(run_dir), str(log_dir)
        return run_dir, log_dir

    def _discard_new_records(self) -> None:
        """After a failure: remove the directories this command created that hold no results (a failed
        start leaves no empty version_N), and point ``latest`` back where it was."""
        if not self._created or not _launched_as_rank_zero():
            return
        doomed = [entry for entry in self._created if not runs.holds_results(entry[0])]
        if doomed and getattr(self, "trainer", None) is not None:
            with contextlib.suppress(Exception):
                self._finish_wandb(exit_code=1)  # its files are about to go
        for directory, moved, previous in reversed(doomed):
            runs.discard(directory)
            if moved:
                runs.restore_latest(directory, previous)
            if runs.is_eval_dir(directory):
                with contextlib.suppress(OSError):
                    directory.parent.rmdir()  # only if no other evaluation is there
            for env in (runs.RUN_DIR_ENV, runs.LOG_DIR_ENV):
                if os.environ.get(env) == str(directory):
                    del os.environ[env]
        self._created = []

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        self._prepare_run()
        run = self._get(self.config_init, "run")
        trainer_config = self._get(self.config_init, "trainer")
        if trainer_config.get("logger") in (None, True):
            evaluation = self.subcommand if self.log_dir != self.run_dir else None
            kwargs["logger"] = build_loggers(self.log_dir, run.name, run.wandb, run.logger, evaluation)
        callbacks = list(trainer_config.get("callbacks") or [])
        if trainer_config.get("enable_checkpointing", True) is not False:
            monitor = getattr(self.model, "monitor", "val/loss"), getattr(self.model, "monitor_mode", "min")
            checkpoint = checkpoint_callback(
                self.run_dir, *monitor, run.checkpoint_every_n_steps, run.checkpoint_every_minutes
            )
            # Lightning runs Checkpoint callbacks last, in list order: given ones that are not
            # ModelCheckpoints (they use what was saved, e.g. the sweep's ReportToTune) go after ours.
            users = [c for c in callbacks if isinstance(c, Checkpoint) and not isinstance(c, ModelCheckpoint)]
            callbacks = [c for c in callbacks if c not in users]
            callbacks += [checkpoint, Preemption(checkpoint), RandomState(), *users]
        kwargs["callbacks"] = callbacks
        plugins = trainer_config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        kwargs.setdefault("default_root_dir", str(self.log_dir))
        return super().instantiate_trainer(**kwargs)

    def _finish_wandb(self, exit_code: int | None = None) -> None:
        """End the W&B run so its files are complete and a later run in this process starts afresh."""
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger._experiment.finish(exit_code=exit_code)

    def _after_evaluation(self) -> None:
        self._finish_wandb()
        if self.log_dir != self.run_dir and self.trainer.is_global_zero:
            print(f"evaluation recorded in {runs.shown(self.log_dir)}")

    def after_validate(self) -> None:
        self._after_evaluation()

    def after_test(self) -> None:
        self._after_evaluation()

    def _run_subcommand(self, subcommand: str) -> None:
        """Record the fit's outcome in the run's ``status.json`` (see engine.run_status)."""
        if subcommand != "fit" or not self.trainer.is_global_zero:
            super()._run_subcommand(subcommand)
            return
        model = self.model
        write_status(
            self.run_dir,
            "running",
            # a resumed run keeps its name, whichever config resumed it
            name=read_status(self.run_dir).get("name") or self._get(self.config_init, "run").name,
            task=f"{type(model).__module__}.{type(model).__qualname__}",
            monitor=getattr(model, "monitor", "val/loss"),
            mode=getattr(model, "monitor_mode", "min"),
        )
        try:
            super()._run_subcommand(subcommand)
        except (SIGTERMException, KeyboardInterrupt):
            write_status(self.run_dir, "stopped", step=self.trainer.global_step)
            raise
        except SystemExit as exit_:  # code 0: a sweep's scheduler stopped this trial (tune.report)
            state = "stopped" if exit_.code in (0, None) else "failed"
            write_status(self.run_dir, state, step=self.trainer.global_step)
            raise
        except BaseException as err:
            message = str(err) if isinstance(err, UserError) else repr(err)  # the words the user sees
            write_status(self.run_dir, "failed", step=self.trainer.global_step, error=message[:500])
            raise

    def after_fit(self) -> None:
        trainer = self.trainer
        if trainer.is_global_zero:
            self._print_summary()
            best = trainer.checkpoint_callback
            score = getattr(best, "best_model_score", None)
            write_status(
                self.run_dir,
                "stopped" if trainer.interrupted else "finished",
                step=trainer.global_step,
                best=None if score is None else float(score),
                best_checkpoint=getattr(best, "best_model_path", None) or None,
            )
            self._log_artifacts()
        self._finish_wandb()

    def _log_artifacts(self) -> None:
        """Tokenizers (``run.wandb.log_tokenizer``), and checkpoints of offline runs (``log_model``;
        online, Lightning's WandbLogger uploads them itself)."""
        settings = self._get(self.config_init, "run").wandb
        datamodule = self.trainer.datamodule
        for logger in self.trainer.loggers:
            if not isinstance(logger, WandbLogger):
                continue
            if settings.log_tokenizer and datamodule is not None:
                files = tokenizer_files(datamodule.state_dict(), self.run_dir / "tokenizers")
                log_artifact(logger, "tokenizer", files)
            if settings.log_model and settings.mode == "offline":
                names = ("best.ckpt", "last.ckpt")
                log_artifact(
                    logger, "model", [p for n in names if (p := self.run_dir / "checkpoints" / n).is_file()]
                )

    def _print_summary(self) -> None:
        trainer = self.trainer
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        print(f"\nrun directory: {self.run_dir}")
        if metrics:
            print("final validation: " + "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
        best = trainer.checkpoint_callback
        if best is not None and best.best_model_path:
            score = (
                f" ({best.monitor}={float(best.best_model_score):.4f})"
                if best.best_model_score is not None
                else ""
            )
            print(f"best checkpoint: {best.best_model_path}{score}")
        wandb_dir = self.run_dir / "wandb"
        if wandb_dir.is_dir() and any(wandb_dir.glob("offline-run-*")):
            print(f"W&B (offline): upload with `wandb sync {wandb_dir}/offline-run-*`")


def _launched_as_rank_zero() -> bool:
    """Whether this process is rank 0 as launched (before any Trainer exists to say so): Lightning's
    DDP children, torchrun and srun tell their processes their rank in the environment."""
    return all(os.environ.get(key, "0") == "0" for key in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


def run_training_cli(args: list[str] | None = None) -> SeqlabCLI:
    return SeqlabCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveResolvedConfig,
        save_config_kwargs={"overwrite": True},
        # seqlab's DataModules shard data per rank themselves (LM streams must stay in order).
        trainer_defaults={"use_distributed_sampler": False},
        args=args,
    )


def generate(
    ckpt_path: str | None = None,
    prompt: str = "\n",
    max_new_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
    run_name: str | None = None,
    root_dir: str = "runs",
    device: str = "auto",
) -> list[str]:
    """Sample text from a trained language model.

    Args:
        ckpt_path: checkpoint file, run directory, or ``last`` (with ``run_name``).
        prompt: text to continue.
        max_new_tokens: tokens to sample after the prompt.
        temperature: softmax temperature; 0 is greedy.
        top_k: sample only among the k most likely tokens.
        top_p: sample only from the smallest set of tokens with this much probability (nucleus).
        seed: random seed for reproducible samples.
        num_samples: independent samples to draw.
        run_name: with ``ckpt_path last``: the run whose newest ``last.ckpt`` to use.
        root_dir: where runs live.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """
    from seqlab.engine.checkpoints import load_task
    from seqlab.nn import generate as sample

    path = runs.checkpoint_path(ckpt_path, run_name, root_dir, "generate")
    if not prompt:
        raise SystemExit("seqlab generate: the prompt must not be empty")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    task, tokenizer = load_task(path, device, "generate")
    ids = torch.as_tensor(tokenizer.encode(prompt), dtype=torch.long, device=device)
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    out = sample(task, ids.expand(num_samples, -1), max_new_tokens, temperature, top_k, top_p, generator)
    return [prompt + tokenizer.decode(row.tolist()) for row in out]


def _generate_main(argv: list[str]) -> None:
    from jsonargparse import auto_cli

    texts = auto_cli(generate, args=argv)
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"----- sample {i + 1} -----")
        print(text)


def _diagnose_main(argv: list[str]) -> None:
    from seqlab.diagnose.cli import diagnose_main

    diagnose_main(argv)


def _predict_main(argv: list[str]) -> None:
    from seqlab.predict import predict_main

    predict_main(argv)


def _decode_main(argv: list[str]) -> None:
    from seqlab.decode import decode_main

    decode_main(argv)


def _tune_main(argv: list[str]) -> None:
    from seqlab.tune.cli import main as tune_main

    tune_main(argv)


def _transcribe_main(argv: list[str]) -> None:
    from seqlab.transcribe import transcribe_main

    transcribe_main(argv)


def _runs_main(argv: list[str]) -> None:
    from seqlab.reporting.cli import runs_main

    runs_main(argv)


def _report_main(argv: list[str]) -> None:
    from seqlab.reporting.cli import report_main

    report_main(argv)


def _submit_main(argv: list[str]) -> None:
    from seqlab.cluster.cli import submit_main

    submit_main(argv)


def _jobs_main(argv: list[str]) -> None:
    from seqlab.cluster.cli import jobs_main

    jobs_main(argv)


VERBS = {
    "generate": _generate_main,
    "predict": _predict_main,
    "decode": _decode_main,
    "transcribe": _transcribe_main,
    "diagnose": _diagnose_main,
    "tune": _tune_main,
    "runs": _runs_main,
    "report": _report_main,
    "submit": _submit_main,
    "jobs": _jobs_main,
}

# Errors about how a verb was used (its checkpoint, its --output): `seqlab predict: error: ...`.
_VERB_ERRORS = (CheckpointError, OutputError)


def main(argv: list[str] | None = None) -> None:
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        if words and words[0] in VERBS:
            VERBS[words[0]](words[1:])
        else:
            # jsonargparse would report a broken config as "<unicode string>", line N after its usage.
            problem = check_config_arguments(words)
            if problem is not None:
                raise ConfigError(problem)
            run_training_cli(argv)
    except SIGTERMException:
        raise SystemExit(PREEMPTED_EXIT_CODE) from None  # last.ckpt is saved (see engine.preemption)
    except Exception as err:
        cause = _user_error(err)
        if cause is None:
            raise
        verb = words[0] if words and words[0] in VERBS and isinstance(cause, _VERB_ERRORS) else None
        print(f"seqlab{f' {verb}' if verb else ''}: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def _user_error(err: BaseException | None) -> BaseException | None:
    """The bad-input error behind ``err`` (jsonargparse wraps errors raised while instantiating)."""
    while err is not None:
        if isinstance(err, (DataError, ConfigError, UserError, FileNotFoundError)):
            return err
        err = err.__cause__ or err.__context__
    return None


if __name__ == "__main__":
    main()
