"""Local views of runs for people without a W&B server: ``seqlab runs`` and ``seqlab report``."""
