"""Helpers of benchmarks/gpu_check.py: one module per section (env, fits, inference, numerics, speed),
tiny data (tiny), result rows (common) and the table (report)."""
