import math

import pytest
import torch
import torch.nn.functional as F

from pretrain.instdisc import MemoryBank


def test_initialization_range_and_seed():
    bank = MemoryBank(1000, 12, seed=3)
    s = 1 / math.sqrt(12 / 3)
    assert bank.features.shape == (1000, 12)
    assert bank.features.abs().max() <= s and bank.features.abs().max() > 0.95 * s
    assert torch.equal(bank.features, MemoryBank(1000, 12, seed=3).features)


def test_update_rule():
    bank = MemoryBank(5, 3, momentum=0.5)
    before = bank.features.clone()
    f = F.normalize(torch.randn(2, 3), dim=1)
    idx = torch.tensor([4, 1])
    bank.update(f, idx)
    expected = F.normalize(0.5 * before[idx] + 0.5 * f, dim=1)
    assert torch.allclose(bank.features[idx], expected)
    untouched = torch.tensor([0, 2, 3])
    assert torch.equal(bank.features[untouched], before[untouched])


def test_state_dict_round_trip_and_shape_check():
    a, b = MemoryBank(6, 4, seed=0), MemoryBank(6, 4, seed=1)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.features, b.features)
    with pytest.raises(ValueError, match=r"\(7, 4\) does not fit"):
        MemoryBank(6, 4).load_state_dict(MemoryBank(7, 4).state_dict())
