"""Trainer assembly: run directories, loggers, checkpoints. The only place that knows Trainer flags.

Importing the package loads nothing: the light parts (``errors``, ``user_errors``, ``config_keys``,
``run_dir``) serve verbs that never train, without torch or Lightning. The DataModules' resumable
loaders get their reader of the training progress from ``lightning_internals``, which every module
that trains or builds a task imports (``callbacks``, ``loggers``, ``training_cli``, ``seqlab.tasks``);
``tests/test_verb_help_speed.py`` checks that the training entry has registered it.
"""
