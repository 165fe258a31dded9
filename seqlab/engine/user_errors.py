"""How a ``seqlab`` command ends on bad input: ``seqlab: error: MESSAGE`` and exit status 2 instead of
a traceback; on a stop signal, the preemption exit status (``last.ckpt`` is saved by then). Outside
training, Ctrl-C is one line and exit status 130, and SIGTERM (with :func:`cleanups_on_sigterm`) one line
and 143, after the files being written are removed: nothing is left half written.

The error classes are looked up in the modules already imported (an error of a class whose module
was never imported cannot have been raised), so that wrapping a light verb (``seqlab runs``) does
not import torch or Lightning.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# (module, class) of the errors that are bad input, not bugs.
USER_ERRORS = (
    ("seqlab.data.errors", "DataError"),
    ("seqlab.engine.build", "ConfigError"),
    ("seqlab.engine.errors", "UserError"),
    ("seqlab.nn.errors", "NetSettingError"),
    ("builtins", "FileNotFoundError"),
)
# Errors about how a verb was used (its checkpoint, its --output): `seqlab predict: error: ...`.
VERB_ERRORS = (("seqlab.engine.checkpoints", "CheckpointError"), ("seqlab.engine.outputs", "OutputError"))
SIGTERM = ("lightning.pytorch.utilities.exceptions", "SIGTERMException")
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as a shell reports Ctrl-C
TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM


class Terminated(SystemExit):
    """SIGTERM, raised where the command was so that its ``finally`` clean-ups run."""


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


def _stopped(err: BaseException | None) -> bool:
    while err is not None:
        if isinstance(err, KeyboardInterrupt | Terminated):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextmanager
def exit_on_user_errors(verb: str | None = None) -> Iterator[None]:
    """Run a command: a user error inside becomes its message on stderr and ``SystemExit(2)`` (named
    ``seqlab <verb>: error:`` where the verb's own use was wrong); any other error propagates."""
    who = f"seqlab {verb}" if verb else "seqlab"
    try:
        yield
    except KeyboardInterrupt:
        print(f"{who}: interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    except Terminated:
        print(f"{who}: stopped by SIGTERM", file=sys.stderr)
        raise
    except SystemExit as err:
        if _is_one_of(err, (SIGTERM,)):
            from seqlab.engine.preemption import PREEMPTED_EXIT_CODE

            raise SystemExit(PREEMPTED_EXIT_CODE) from None  # last.ckpt is saved (engine.preemption)
        raise
    except Exception as err:
        if _stopped(err):  # Ctrl-C inside an import surfaces as the import's own error
            print(f"{who}: interrupted", file=sys.stderr)
            raise SystemExit(INTERRUPTED_EXIT_CODE) from None
        cause = user_error(err)
        if cause is None:
            raise
        shown = verb if verb is not None and _is_one_of(cause, VERB_ERRORS) else None
        print(f"seqlab{f' {shown}' if shown else ''}: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


@contextmanager
def cleanups_on_sigterm() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM raises :class:`Terminated` instead of ending the
    process at once, so that work files are removed (``finally``) before it exits with status 143."""

    def stop(signum: int, frame: object) -> None:
        raise Terminated(TERMINATED_EXIT_CODE)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
