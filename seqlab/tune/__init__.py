"""Hyperparameter sweeps on Ray Tune (``seqlab tune``)."""
