"""Word dropout: the share of ids replaced by the unknown id, nothing else changed, and bad rates refused."""

from __future__ import annotations

import pytest
import torch

from seqlab.nn.errors import NetSettingError, checked_share
from seqlab.nn.token_dropout import UNKNOWN_ID, replace_by_unknown


def test_replaces_about_the_share_asked_and_nothing_else():
    torch.manual_seed(0)
    ids = torch.randint(1, 1000, (200, 500))
    out = replace_by_unknown(ids, 0.3)
    dropped = out == UNKNOWN_ID
    assert abs(dropped.float().mean().item() - 0.3) < 0.01
    assert torch.equal(out[~dropped], ids[~dropped])
    assert replace_by_unknown(ids, 0.0) is ids


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, True, "0.1"])
def test_a_rate_outside_zero_to_one_is_refused_by_name(rate):
    with pytest.raises(NetSettingError, match=r"model.word_dropout: expected a share in \[0, 1\)"):
        checked_share(rate, "model.word_dropout")
