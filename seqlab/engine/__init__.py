"""Trainer assembly: run directories, loggers, checkpoints. The only place that knows Trainer flags."""
