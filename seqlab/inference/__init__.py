"""Running trained models: the one loader (checkpoint file, run directory or ``last`` + run name), the
inference verbs (``predict``, ``decode``, ``transcribe``, ``generate``) with their options declared
once in :mod:`seqlab.inference.options`, and export.

Nothing is imported here: ``seqlab decode --help`` parses its options without torch.
"""
