"""The training entry (``seqlab fit | validate | test``): Lightning's ``LightningCLI`` with seqlab's run
directory, loggers, callbacks and checkpoints. ``seqlab.cli`` runs it for the command line, and
``seqlab.tune`` and ``seqlab.cluster`` run it for a sweep's trials and for Ray Train's workers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import ArgumentError
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from lightning.pytorch.callbacks import Callback, Checkpoint, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from seqlab.engine import run_dir as runs
from seqlab.engine.averaging import refuse_resume_without_averaging
from seqlab.engine.build import ConfigError, add_seqlab_arguments
from seqlab.engine.callbacks import FinalValidation, RandomState, SaveResolvedConfig, checkpoint_callback
from seqlab.engine.checkpoints import AtomicCheckpointIO, nothing_left_to_train, read_checkpoint
from seqlab.engine.compatibility import (
    check_fits,
    check_task,
    fold_legacy_hparams,
    import_class,
    moved_net_flags,
)
from seqlab.engine.config_files import check_config_arguments
from seqlab.engine.config_keys import explain, explain_setting
from seqlab.engine.errors import SettingError
from seqlab.engine.loggers import build_loggers, finish_wandb
from seqlab.engine.preemption import Preemption
from seqlab.engine.quiet import quiet_library_noise
from seqlab.engine.run_records import RunRecords, fit_status, record_fit_end
from seqlab.engine.schedules import SizeSchedules
from seqlab.engine.task_data import hand_data
from seqlab.engine.trainer_flags import (
    apply_user_intent,
    as_used,
    refuse_missing_gpu,
    refuse_no_training,
    without_print_config,
)
from seqlab.engine.user_errors import exit_on_user_errors


class SeqlabCLI(LightningCLI):
    """LightningCLI with seqlab's run directory, loggers and checkpoints.

    Nothing is written before the config, data and checkpoint have been checked: the run directory
    is chosen in ``instantiate_trainer``, after the model and data are built. A command that fails
    removes the directories it created if they hold no results, and puts ``latest`` back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._checkpoint: dict[str, Any] | None = None  # read once, for the checks, then dropped
        self._records = RunRecords()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            trainer = getattr(self, "trainer", None)
            self._records.discard_new(trainer.loggers if trainer is not None else ())
            raise
        finally:
            self._records.release()

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Lightning's verbs less ``predict``: ``seqlab predict`` is seqlab's own (file in, labels out)."""
        verbs = LightningCLI.subcommands()
        verbs.pop("predict")
        return verbs

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        """Each verb's usage line reads ``usage: seqlab fit ...`` (jsonargparse writes
        ``seqlab [options] fit``)."""
        super()._add_subcommands(parser, **kwargs)
        for verb, verb_parser in self._subcommand_parsers.items():
            verb_parser.prog = f"seqlab {verb}"

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_seqlab_arguments(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """A misspelt key or a bad value is a :class:`ConfigError` naming the key (and the nearest
        valid one), not jsonargparse's usage block followed by a nested Union error."""
        self._raw_args = list(sys.argv[1:] if args is None else args)
        args, shown = without_print_config(self._raw_args)
        try:
            self.config = parser.parse_args(args)  # Lightning's parse_arguments, less its sys.argv warning
        except ArgumentError as err:
            raise ConfigError(explain(err, parser, self._raw_args)) from None
        subcommand = self.config.get("subcommand")
        self._trainer_args = apply_user_intent(self.config[subcommand], self._raw_args) if subcommand else {}
        if shown is not None:  # after apply_user_intent: the settings as the run will use them
            verb_parser = self._subcommand_parsers[subcommand] if subcommand else parser
            dumped = verb_parser.dump(self.config[subcommand] if subcommand else self.config, **shown)
            print(as_used(dumped, self._trainer_args), end="")
            raise SystemExit(0)
        if subcommand == "fit":
            refuse_no_training(self.config.fit.trainer)
        if subcommand:  # not with --print_config, which shows a GPU run's settings on any machine
            refuse_missing_gpu(self.config[subcommand].trainer)

    def instantiate_classes(self) -> None:
        """A data setting out of range (``--data.batch_size -3``) is a :class:`ConfigError` naming the
        key as the user wrote it."""
        try:
            super().instantiate_classes()
        except Exception as err:
            message = explain_setting(err, getattr(self, "_raw_args", []))
            if message is None:
                raise
            raise ConfigError(message) from None

    def _parse_ckpt_path(self) -> None:
        """Lightning replaces the model's config with the checkpoint's hyperparameters; model options
        written on the command line (``seqlab test ... --model.init_args.eval_beam_size 8``,
        ``--model.net.dropout 0.1``) win."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        self._resolve_ckpt_path(config)
        if not config.get("ckpt_path"):
            return
        # Before the config's model class is swapped for the checkpoint's.
        self._checkpoint = read_checkpoint(config.ckpt_path)
        check_task(config.ckpt_path, self._checkpoint, getattr(config.model, "class_path", None), subcommand)
        init_args = config.model.get("init_args")
        given = {key: init_args[key] for key in self._given_model_keys() if init_args and key in init_args}
        self._use_checkpoint_hparams(subcommand)
        for key, value in given.items():
            self.config[subcommand].model.init_args[key] = value

    def _given_model_keys(self) -> list[str]:
        """The model options on the command line, as keys under ``init_args``: dotted down to the option
        given (``net.dropout``) where the config has it so, else the top-level option."""
        init_args = self.config[self.config.subcommand].model.get("init_args") or {}
        keys = []
        for arg in getattr(self, "_raw_args", []):
            if isinstance(arg, str) and arg.startswith("--model."):
                parts = arg[2:].split("=", 1)[0].split(".")[1:]
                parts = parts[1:] if parts[:1] == ["init_args"] else parts
                dotted = ".".join(parts)
                keys += [dotted if dotted in init_args else parts[0]] if parts else []
        return keys

    def _use_checkpoint_hparams(self, subcommand: str) -> None:
        """Lightning's own step (its ``_parse_ckpt_path``) on the checkpoint already read, with the
        hyperparameters of checkpoints from before ``net`` folded into today's layout."""
        hparams = dict((self._checkpoint or {}).get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        class_path = hparams.pop("_class_path", None)
        hparams = fold_legacy_hparams(hparams, import_class(class_path) if class_path else None)
        if not hparams:
            return
        model = {"class_path": class_path, "dict_kwargs": hparams} if class_path else hparams
        self.config = self.parser.parse_object({subcommand: {"model": model}}, self.config)

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
        hand_data(self.model, self.datamodule)
        if self._checkpoint is not None:
            checkpoint, self._checkpoint = self._checkpoint, None
            check_fits(config.ckpt_path, checkpoint, self.model, self.datamodule, self.subcommand)
            if self.subcommand == "fit":
                callbacks = self._get(self.config_init, "trainer").get("callbacks") or []
                refuse_resume_without_averaging(config.ckpt_path, checkpoint, callbacks)
                trainer = config.trainer
                done = nothing_left_to_train(checkpoint, trainer.get("max_epochs"), trainer.get("max_steps"))
                if done:
                    print(
                        f"seqlab: nothing to train: {done}; raise it to train on (the run is left as it was)",
                        file=sys.stderr,
                    )
        self.run_dir, self.log_dir = self._records.choose(
            config.run, config.get("ckpt_path"), self.subcommand
        )

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        self._prepare_run()
        run = self._get(self.config_init, "run")
        trainer_config = self._get(self.config_init, "trainer")
        if trainer_config.get("logger") in (None, True):
            evaluation = self.subcommand if self.log_dir != self.run_dir else None
            kwargs["logger"] = build_loggers(self.log_dir, run.name, run.wandb, run.logger, evaluation)
        callbacks = [*(trainer_config.get("callbacks") or []), FinalValidation(), SizeSchedules()]
        if trainer_config.get("enable_checkpointing", True) is not False:
            callbacks = self._with_checkpoints(callbacks, run)
        kwargs["callbacks"] = callbacks
        plugins = trainer_config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        kwargs.setdefault("default_root_dir", str(self.log_dir))
        kwargs.update(self._trainer_args)
        accumulate = trainer_config.get("accumulate_grad_batches", 1)
        if accumulate != 1 and not self.model.automatic_optimization:  # Lightning refuses it mid-start
            raise SettingError(
                f"--trainer.accumulate_grad_batches {accumulate}: {type(self.model).__name__} steps its "
                "optimizer itself (manual optimization), so it cannot accumulate; leave it at 1 and raise "
                "--data.batch_size instead"
            )
        try:
            return super().instantiate_trainer(**kwargs)
        except MisconfigurationException as err:  # a trainer setting out of range (`max_steps` -5)
            raise SettingError(f"trainer settings: {err}") from None

    def _with_checkpoints(self, callbacks: list[Callback], run: Any) -> list[Callback]:
        """The given callbacks plus seqlab's checkpoint, preemption and random-state callbacks."""
        monitor = getattr(self.model, "monitor", "val/loss"), getattr(self.model, "monitor_mode", "min")
        checkpoint = checkpoint_callback(
            self.run_dir, *monitor, run.checkpoint_every_n_steps, run.checkpoint_every_minutes
        )
        # Lightning runs Checkpoint callbacks last, in list order: given ones that are not
        # ModelCheckpoints (they use what was saved, e.g. the sweep's ReportToTune) go after ours.
        users = [c for c in callbacks if isinstance(c, Checkpoint) and not isinstance(c, ModelCheckpoint)]
        callbacks = [c for c in callbacks if c not in users]
        return [*callbacks, checkpoint, Preemption(checkpoint), RandomState(), *users]

    def _after_evaluation(self) -> None:
        finish_wandb(self.trainer.loggers)
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
        name = self._get(self.config_init, "run").name
        with fit_status(self.run_dir, self.trainer, self.model, name):
            super()._run_subcommand(subcommand)

    def after_fit(self) -> None:
        if self.trainer.is_global_zero:
            record_fit_end(self.trainer, self.run_dir, self._get(self.config_init, "run").wandb)
        finish_wandb(self.trainer.loggers)


def run_training(args: list[str] | None = None, callbacks: Sequence[L.Callback] = ()) -> SeqlabCLI:
    """Run ``seqlab fit | validate | test`` with ``args`` (the verb first; ``None``: ``sys.argv``);
    ``callbacks`` join the Trainer's (tests and benchmarks watch a run through them)."""
    quiet_library_noise()
    # exit_on_error=False: parse errors reach parse_arguments; allow_abbrev=False: a misspelt
    # `--trainer.max_step` is an error, not argparse's abbreviation of max_steps.
    return SeqlabCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveResolvedConfig,
        save_config_kwargs={"overwrite": True},
        # seqlab's DataModules shard data per rank themselves (LM streams must stay in order).
        trainer_defaults={"use_distributed_sampler": False, "callbacks": list(callbacks)},
        parser_kwargs={"prog": "seqlab", "exit_on_error": False, "allow_abbrev": False},
        args=args,
    )


def train_main(argv: list[str] | None = None) -> None:
    """:func:`run_training` as the command line runs it: a broken config file is named first, and
    bad input ends in ``seqlab: error: ...`` (see :mod:`seqlab.engine.user_errors`)."""
    with exit_on_user_errors():
        # jsonargparse would report a broken config as "<unicode string>", line N after its usage.
        args = list(sys.argv[1:] if argv is None else argv)
        problem = check_config_arguments(args)
        if problem is not None:
            raise ConfigError(problem)
        for moved in moved_net_flags(args):
            print(f"seqlab: note: {moved}", file=sys.stderr)
        run_training(argv)
