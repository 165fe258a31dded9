"""Cluster job submission (SLURM; Ray Jobs and Kubernetes to come) for seqlab training runs."""
