"""The one entry point, ``seqlab VERB ...``: the table of verbs, ``seqlab --help``, and the error for a
word that is not a verb. Each verb's work lives in the module it names.

This module imports nothing heavy (no torch, Lightning, Ray, W&B): a verb's module is imported only
when that verb runs, so ``seqlab --help`` answers at once and ``seqlab runs`` does not load Ray.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import sys
from collections.abc import Callable
from typing import TextIO

from seqlab.help_cache import CACHED, help_file, keep_help, kept_help

# The training verbs are Lightning's (LightningCLI: YAML configs, --print_config, overrides of any
# key); their function takes the verb with its arguments, the others take the arguments only.
TRAINING = ("seqlab.engine.training_cli", "train_main")

# Verbs whose libraries handle SIGTERM themselves (Ray Tune stops and records its trials).
OWN_SIGTERM = frozenset({"tune"})
# verb -> (module, function), imported only when that verb runs.
VERBS: dict[str, tuple[str, str]] = {
    "fit": TRAINING,
    "validate": TRAINING,
    "test": TRAINING,
    "generate": ("seqlab.inference.options", "generate_main"),
    "predict": ("seqlab.inference.options", "predict_main"),
    "decode": ("seqlab.inference.options", "decode_main"),
    "transcribe": ("seqlab.inference.options", "transcribe_main"),
    "export": ("seqlab.inference.options", "export_main"),
    "tune": ("seqlab.tune.cli", "main"),
    "submit": ("seqlab.cluster.cli", "submit_main"),
    "jobs": ("seqlab.cluster.cli", "jobs_main"),
    "runs": ("seqlab.reporting.cli", "runs_main"),
    "report": ("seqlab.reporting.cli", "report_main"),
    "dashboard": ("seqlab.reporting.dashboard", "dashboard_main"),
    "diagnose": ("seqlab.diagnose.cli", "diagnose_main"),
}

# What `seqlab --help` shows: the verbs by what they are for, one line each.
GROUPS: dict[str, dict[str, str]] = {
    "train": {
        "fit": "train a model from an experiment YAML (--config FILE, --KEY VALUE overrides)",
        "validate": "evaluate a model (--ckpt_path) on the validation split",
        "test": "evaluate a model (--ckpt_path) on the test split",
    },
    "use a model": {
        "generate": "sample text from a trained language model",
        "predict": "label or tag the lines of a file with a trained classifier or tagger",
        "decode": "translate or transduce a file with a trained encoder-decoder",
        "transcribe": "transcribe audio files with a trained speech recognizer",
        "export": "write a trained model as ONNX or torch.export graphs, for the verbs' --backend",
    },
    "sweep": {
        "tune": "run a hyperparameter sweep over an experiment on Ray Tune, or resume one",
    },
    "cluster": {
        "submit": "submit a training run to SLURM, a Ray cluster or Kubernetes (KubeRay)",
        "jobs": "status, logs or cancel of a submitted job",
    },
    "inspect": {
        "runs": "list local runs with their status and metrics",
        "report": "learning-curve plots of one or more runs",
        "dashboard": "one self-contained HTML page of runs: configs, metrics, curves, samples",
        "diagnose": "gradient flow and long-range dependence of a model",
    },
}

HELP_FLAGS = ("-h", "--help")


def help_text() -> str:
    """``seqlab --help``: what seqlab is, then every verb with one line, grouped."""
    width = max(len(verb) for verb in VERBS) + 2
    lines = [
        "usage: seqlab VERB [options]        (seqlab VERB --help: that verb's options)",
        "",
        "seqlab: recurrent sequence models (language models, classifiers, taggers, encoder-decoders,",
        "speech recognizers) trained with PyTorch Lightning from YAML experiment configs.",
    ]
    for group, verbs in GROUPS.items():
        lines += ["", f"{group}:"] + [f"  {verb:<{width}}{summary}" for verb, summary in verbs.items()]
    lines += ["", "example: seqlab fit --config configs/generation/char_lstm.yaml --trainer.max_steps 50"]
    return "\n".join(lines)


def not_a_verb(word: str) -> str:
    """The error for a first word that is not a verb: the nearest verb, if one is near, and the list."""
    near = difflib.get_close_matches(word, VERBS, n=1)
    hint = f"; did you mean {near[0]}?" if near else ""
    return (
        f"seqlab: error: {word!r} is not a verb{hint}\n"
        f"verbs: {', '.join(VERBS)} (seqlab --help says what each does)"
    )


def main(argv: list[str] | None = None) -> None:
    """``seqlab VERB ...``: run a verb of :data:`VERBS`. No verb or ``--help`` prints :func:`help_text`;
    an unknown word ends in ``seqlab: error: ...`` with exit status 2, as bad input to a verb does."""
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in HELP_FLAGS:
        print(help_text())
        raise SystemExit(0 if words else 2)
    if words[0].startswith("-") and any(VERBS.get(word) == TRAINING for word in words):
        _run(TRAINING, words, argv)  # Lightning's options before its verb: `seqlab --config X.yaml fit`
        return
    if words[0] not in VERBS:
        print(not_a_verb(words[0]), file=sys.stderr)
        raise SystemExit(2)
    _run(VERBS[words[0]], words, argv)


def _run(entry: tuple[str, str], words: list[str], argv: list[str] | None) -> None:
    if entry == TRAINING:
        if tuple(words) in CACHED:
            _print_kept_help(tuple(words), lambda: _train(argv))
        _train(argv)
        return
    module, function = entry
    run = getattr(importlib.import_module(module), function)
    from seqlab.engine.user_errors import cleanups_on_sigterm, exit_on_user_errors

    with exit_on_user_errors(words[0]):
        if words[0] in OWN_SIGTERM:
            run(words[1:])
            return
        with cleanups_on_sigterm():
            run(words[1:])


def _train(argv: list[str] | None) -> None:
    module, function = TRAINING
    run = getattr(importlib.import_module(module), function)
    import seqlab.tasks  # noqa: F401  (`seqlab fit --help` lists the task classes it imports)

    run(argv)  # None: Lightning reads sys.argv (it warns when given both)


def _print_kept_help(words: tuple[str, ...], render: Callable[[], None]) -> None:
    """Print the kept text of ``seqlab WORDS`` (:mod:`seqlab.help_cache`), or render it (printed as it
    is written) and keep it; exits with status 0 either way."""
    path = help_file(words)
    text = kept_help(path)
    if text is not None:
        sys.stdout.write(text)
        raise SystemExit(0)
    copy = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, copy)):
        try:
            render()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise
    keep_help(path, copy.getvalue())
    raise SystemExit(0)


class _Tee(io.TextIOBase):
    """Writes to a stream and to a copy."""

    def __init__(self, stream: TextIO, copy: io.StringIO) -> None:
        self.stream, self.copy = stream, copy

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


if __name__ == "__main__":
    main()
