"""Gradient-flow diagnostics: how far back gradients reach, and how far back models can remember.

``gradients`` measures ||d loss_T / d h_t|| by distance, ``long_range`` is the synthetic
first-token task, ``history`` reads a run's gradient-norm log, ``plots`` draws all three, and
``cli`` is ``seqlab diagnose``. Nothing is imported here, so ``seqlab fit`` does not pay for matplotlib.
"""
