"""ReportToTune's metric check at the sanity validation, without Ray (it raises before reporting)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seqlab.tune.report import ReportToTune

SANITY = SimpleNamespace(sanity_checking=True, callback_metrics={"val/loss": torch.tensor(1.0)})


def test_a_validation_metric_the_task_does_not_log_fails_at_the_sanity_validation() -> None:
    with pytest.raises(KeyError, match=r"'val/los' is not logged by this task; it logs val/loss"):
        ReportToTune("val/los").on_validation_end(SANITY, None)  # type: ignore[arg-type]


def test_a_training_metric_is_not_checked_before_training_has_logged_it() -> None:
    callback = ReportToTune("train/loss")
    callback.on_validation_end(SANITY, None)  # type: ignore[arg-type]
    assert callback.iteration == 0  # the sanity validation is not an iteration
