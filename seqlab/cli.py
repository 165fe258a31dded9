"""The one entry point: ``seqlab fit | validate | test | generate | predict | decode | diagnose | tune |
submit | jobs``.

Training verbs are Lightning's (``LightningCLI``: YAML configs, ``--print_config``, overrides of
any key), run by ``seqlab.engine.training_cli``; ``generate`` samples from a trained language model;
``predict`` labels or tags a file with a trained classifier or tagger; ``decode`` runs a trained
encoder-decoder; ``diagnose`` looks at gradient flow; ``tune`` runs a hyperparameter sweep on Ray Tune.
This module is only the table of verbs: each verb's work lives in the module it names.
"""

from __future__ import annotations

import importlib
import sys

import seqlab.tasks  # noqa: F401  (the training verbs list and resolve the task classes it imports)
from seqlab.engine.training_cli import train_main
from seqlab.engine.user_errors import exit_on_user_errors

# verb -> (module, function taking the verb's arguments): imported only when that verb runs, so that
# `seqlab fit` does not load Ray or the cluster clients.
VERBS: dict[str, tuple[str, str]] = {
    "generate": ("seqlab.generate", "generate_main"),
    "predict": ("seqlab.predict", "predict_main"),
    "decode": ("seqlab.decode", "decode_main"),
    "transcribe": ("seqlab.transcribe", "transcribe_main"),
    "diagnose": ("seqlab.diagnose.cli", "diagnose_main"),
    "tune": ("seqlab.tune.cli", "main"),
    "runs": ("seqlab.reporting.cli", "runs_main"),
    "report": ("seqlab.reporting.cli", "report_main"),
    "submit": ("seqlab.cluster.cli", "submit_main"),
    "jobs": ("seqlab.cluster.cli", "jobs_main"),
}


def main(argv: list[str] | None = None) -> None:
    """``seqlab VERB ...``: one of :data:`VERBS`, else a training verb (``fit``, ``validate``,
    ``test``; Lightning's CLI parses those). Bad input ends in ``seqlab: error: ...``, exit status 2."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in VERBS:
        module, function = VERBS[words[0]]
        with exit_on_user_errors(words[0]):
            getattr(importlib.import_module(module), function)(words[1:])
    else:
        train_main(argv)


if __name__ == "__main__":
    main()
