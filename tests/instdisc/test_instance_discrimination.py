import pytest
import torch
import torch.nn.functional as F

from pretrain.instdisc import InstanceDiscrimination, MemoryBank
from pretrain.instdisc.loss import softmax_nce_loss


def _setup(shared: bool, loss: str = "softmax_nce", k: int = 7):
    bank = MemoryBank(50, 8, seed=0)
    crit = InstanceDiscrimination(bank, num_negatives=k, loss=loss, shared_negatives=shared, seed=1)
    f = F.normalize(torch.randn(4, 8), dim=1).requires_grad_()
    return bank, crit, f, torch.tensor([3, 9, 0, 41])


@pytest.mark.parametrize(
    "shared,k", [(False, 7), (True, 7), (False, 20)], ids=["per-sample", "shared", "per-sample-small-bank"]
)
def test_loss_matches_the_definition(shared, k):
    """Also where a small bank (50 rows, at most 4 K) is scored whole and the negatives picked from it."""
    bank, crit, f, idx = _setup(shared, k=k)
    neg_idx = crit.sample_negatives(4, step=5)
    assert neg_idx.shape == ((k,) if shared else (4, k))
    before = bank.features.clone()
    neg_rows = before[neg_idx] if not shared else before[neg_idx].expand(4, k, 8)
    f_ref = f.detach().clone().requires_grad_()
    pos = (before[idx] * f_ref).sum(1)
    neg = torch.einsum("bkd,bd->bk", neg_rows, f_ref)
    expected = softmax_nce_loss(pos, neg, 0.07)
    loss = crit(f, idx, step=5)
    assert torch.allclose(loss, expected)
    # the bank was read before being updated, and only the positives moved
    assert torch.allclose(bank.features[idx], F.normalize(0.5 * before[idx] + 0.5 * f.detach(), dim=1))
    loss.backward()
    expected.backward()
    assert not bank.features.requires_grad
    torch.testing.assert_close(f.grad, f_ref.grad)  # the gradient of the bank as it was before the update


def test_negatives_are_a_function_of_the_step():
    _, crit, _, _ = _setup(False)
    assert torch.equal(crit.sample_negatives(4, 2), crit.sample_negatives(4, 2))
    assert not torch.equal(crit.sample_negatives(4, 2), crit.sample_negatives(4, 3))
    draws = crit.sample_negatives(2000, 0)
    assert draws.min() == 0 and draws.max() == 49  # uniform over the whole bank


def test_nce_estimates_z_once():
    _, crit, f, idx = _setup(False, loss="nce")
    crit(f, idx, step=0)
    z = crit.nce_z.item()
    assert z > 0
    crit(f, idx, step=1)
    assert crit.nce_z.item() == z


def test_rejects_unknown_loss():
    with pytest.raises(ValueError, match="INSTDISC.LOSS"):
        InstanceDiscrimination(MemoryBank(4, 2), loss="infonce")
