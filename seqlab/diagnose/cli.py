"""``seqlab diagnose gradients | grad-history | long-range``: gradient flow made visible.

Each verb prints its numbers and the PNG paths it wrote. Its options are parsed first (``options``, no
torch), then its module is imported: ``gradients_verb``, ``grad_history_verb``, ``long_range_verb``;
what they share is in ``verb_common``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from seqlab.diagnose import options

# verb -> (its parser, whether it passes other --key=value on to the experiment config, the module
# and function that run it with the parsed options and those overrides)
VERBS: dict[str, tuple[Callable[[], argparse.ArgumentParser], bool, str, str]] = {
    "gradients": (options.gradients_parser, True, "seqlab.diagnose.gradients_verb", "gradients"),
    "grad-history": (options.grad_history_parser, False, "seqlab.diagnose.grad_history_verb", "grad_history"),
    "long-range": (options.long_range_parser, False, "seqlab.diagnose.long_range_verb", "long_range"),
}


def diagnose_main(argv: list[str]) -> None:
    """Dispatch ``seqlab diagnose VERB ...``."""
    if not argv or argv[0] not in VERBS:
        usage = f"usage: seqlab diagnose {{{','.join(VERBS)}}} [-h] ..."
        if argv and argv[0] in ("-h", "--help"):
            print(usage)
            return
        raise SystemExit(f"{usage}\nseqlab diagnose: expected one of {', '.join(VERBS)}")
    parser, overrides_allowed, module, function = VERBS[argv[0]]
    if overrides_allowed:
        args, overrides = parser().parse_known_args(argv[1:])
    else:
        args, overrides = parser().parse_args(argv[1:]), []
    run = getattr(importlib.import_module(module), function)
    from seqlab.engine.build import ConfigError

    try:
        run(args, overrides)
    except ConfigError as err:
        raise SystemExit(f"seqlab diagnose {argv[0]}: error: {err}") from None
