"""How a ``seqlab`` command ends on bad input: ``seqlab: error: MESSAGE`` and exit status 2 instead of
a traceback; on a stop signal, the preemption exit status (``last.ckpt`` is saved by then).

The error classes are looked up in the modules already imported (an error of a class whose module
was never imported cannot have been raised), so that wrapping a light verb (``seqlab runs``) does
not import torch or Lightning.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

# (module, class) of the errors that are bad input, not bugs.
USER_ERRORS = (
    ("seqlab.data.errors", "DataError"),
    ("seqlab.engine.build", "ConfigError"),
    ("seqlab.engine.errors", "UserError"),
    ("builtins", "FileNotFoundError"),
)
# Errors about how a verb was used (its checkpoint, its --output): `seqlab predict: error: ...`.
VERB_ERRORS = (("seqlab.engine.checkpoints", "CheckpointError"), ("seqlab.engine.outputs", "OutputError"))
SIGTERM = ("lightning.pytorch.utilities.exceptions", "SIGTERMException")


def _is_one_of(err: BaseException, classes: tuple[tuple[str, str], ...]) -> bool:
    loaded = (getattr(sys.modules.get(module), name, None) for module, name in classes)
    return isinstance(err, tuple(cls for cls in loaded if isinstance(cls, type)))


def user_error(err: BaseException | None) -> BaseException | None:
    """The bad-input error behind ``err`` (jsonargparse wraps errors raised while instantiating)."""
    while err is not None:
        if _is_one_of(err, USER_ERRORS):
            return err
        err = err.__cause__ or err.__context__
    return None


@contextmanager
def exit_on_user_errors(verb: str | None = None) -> Iterator[None]:
    """Run a command: a user error inside becomes its message on stderr and ``SystemExit(2)`` (named
    ``seqlab <verb>: error:`` where the verb's own use was wrong); any other error propagates."""
    try:
        yield
    except SystemExit as err:
        if _is_one_of(err, (SIGTERM,)):
            from seqlab.engine.preemption import PREEMPTED_EXIT_CODE

            raise SystemExit(PREEMPTED_EXIT_CODE) from None  # last.ckpt is saved (engine.preemption)
        raise
    except Exception as err:
        cause = user_error(err)
        if cause is None:
            raise
        shown = verb if verb is not None and _is_one_of(cause, VERB_ERRORS) else None
        print(f"seqlab{f' {shown}' if shown else ''}: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None
