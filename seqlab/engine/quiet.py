"""The one place where seqlab hides library messages a user of seqlab cannot act on.

Each filter matches one message by its own words (never a whole category or module), so every other
warning, and every line a user needs (the run directory, the metrics, W&B's sync hint, seqlab's own
warnings), still shows. Why each one is safe to hide:

- Lightning's "Tip: ... install litlogger": an advertisement, printed by every Trainer.
- torch's "``isinstance(treespec, LeafSpec)`` is deprecated": raised inside Lightning's own pytree
  code, about Lightning's code; nothing in a run changes it.
- "The ``srun`` command is available ... but is not used": outside a SLURM job, running without
  srun is what the user means (``seqlab submit slurm`` writes srun into its scripts). Inside a job
  (``SLURM_JOB_ID`` set) the hint is kept: there it may be a real mistake.
- "Precision bf16-mixed is not supported by the model summary": only the summary's size estimate
  in MB is affected, and the summary says so by counting 32 bits.
- "The number of training batches (N) is smaller than the logging interval": seqlab's metrics are
  logged per step and at every validation whatever the epoch length; tiny runs always trip it.
- matplotlib's "Glyph N (...) missing from font(s) ...": the attention and confusion figures label
  their axes with the data's own symbols (Japanese source words, say); where the installed fonts lack
  a script those labels show as boxes, while the figure itself (the weights, the counts) is right.
  One warning per missing character per figure buried a run's output.
- Lightning's "Checkpoint directory ... exists and is not empty": a new fit always gets a directory of
  its own (a new ``version_N``; ``--run.dir`` of a run with checkpoints is refused, see
  ``engine.run_records``), so the checkpoints it finds are those of the run being resumed, which is
  what a resume is for.
- W&B's "The anonymous setting has no effect": Lightning's WandbLogger passes ``anonymous=None``;
  seqlab drops that argument where it builds the logger (see ``engine.loggers``).
"""

from __future__ import annotations

import logging
import os
import warnings

_HIDDEN_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"Precision .* is not supported by the model summary",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r"Glyph \d+ .* missing from font",
    r"Checkpoint directory .* exists and is not empty",
)
_SRUN_HINT = r"The `srun` command is available on your system but is not used"
_HIDDEN_INFO = ("💡 Tip: For seamless cloud logging",)


class _DropAdvertisements(logging.Filter):
    """Drops Lightning's info lines that start with one of ``_HIDDEN_INFO``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_HIDDEN_INFO)


def quiet_library_noise() -> None:
    """Install the filters (idempotent; call before a Trainer is built: pytest resets warning filters
    per test, so each training command installs them again)."""
    patterns = [*_HIDDEN_WARNINGS, *([] if os.environ.get("SLURM_JOB_ID") else [_SRUN_HINT])]
    for pattern in patterns:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvertisements) for f in logger.filters):
            logger.addFilter(_DropAdvertisements())
