"""How a ``seqlab`` command ends on bad input: ``seqlab: error: MESSAGE`` and exit status 2 instead of
a traceback; on a stop signal, the preemption exit status (``last.ckpt`` is saved by then)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch.utilities.exceptions import SIGTERMException

from seqlab.data.errors import DataError
from seqlab.engine.build import ConfigError
from seqlab.engine.checkpoints import CheckpointError
from seqlab.engine.errors import UserError
from seqlab.engine.outputs import OutputError
from seqlab.engine.preemption import PREEMPTED_EXIT_CODE

# Errors about how a verb was used (its checkpoint, its --output): `seqlab predict: error: ...`.
VERB_ERRORS = (CheckpointError, OutputError)


def user_error(err: BaseException | None) -> BaseException | None:
    """The bad-input error behind ``err`` (jsonargparse wraps errors raised while instantiating)."""
    while err is not None:
        if isinstance(err, (DataError, ConfigError, UserError, FileNotFoundError)):
            return err
        err = err.__cause__ or err.__context__
    return None


@contextmanager
def exit_on_user_errors(verb: str | None = None) -> Iterator[None]:
    """Run a command: a user error inside becomes its message on stderr and ``SystemExit(2)`` (named
    ``seqlab <verb>: error:`` where the verb's own use was wrong); any other error propagates."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(PREEMPTED_EXIT_CODE) from None  # last.ckpt is saved (see engine.preemption)
    except Exception as err:
        cause = user_error(err)
        if cause is None:
            raise
        shown = verb if verb is not None and isinstance(cause, VERB_ERRORS) else None
        print(f"seqlab{f' {shown}' if shown else ''}: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None
