"""Trainer assembly: run directories, loggers, checkpoints. The only place that knows Trainer flags."""

# Imported with any part of the engine, so that the DataModules' resumable loaders always have their
# reader of the training progress (see lightning_internals.batches_trained).
from seqlab.engine import lightning_internals as _lightning_internals  # noqa: F401
