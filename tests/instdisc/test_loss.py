import math

import torch

from pretrain.instdisc.loss import nce_loss, nce_normalizer, softmax_nce_loss


def test_softmax_nce_by_hand():
    pos = torch.tensor([0.5, 0.1])
    neg = torch.tensor([[0.2, -0.3], [0.4, 0.0]])
    t = 0.1
    expected = 0.0
    for p, (a, b) in zip([0.5, 0.1], [(0.2, -0.3), (0.4, 0.0)], strict=True):
        expected += -math.log(math.exp(p / t) / (math.exp(p / t) + math.exp(a / t) + math.exp(b / t)))
    assert math.isclose(softmax_nce_loss(pos, neg, t).item(), expected / 2, rel_tol=1e-5)


def test_nce_by_hand():
    pos = torch.tensor([0.5])
    neg = torch.tensor([[0.2, -0.3]])
    t, n = 0.5, 10
    z = nce_normalizer(pos, neg, t, n)
    assert math.isclose(z.item(), n * (math.exp(1.0) + math.exp(0.4) + math.exp(-0.6)) / 3, rel_tol=1e-6)
    c = 2 / n  # K * P_n
    p = lambda s: math.exp(s / t) / z.item()  # noqa: E731
    expected = -math.log(p(0.5) / (p(0.5) + c)) - math.log(c / (p(0.2) + c)) - math.log(c / (p(-0.3) + c))
    assert math.isclose(nce_loss(pos, neg, t, z, n).item(), expected, rel_tol=1e-5)


def test_losses_fall_as_the_positive_wins():
    neg = torch.zeros(1, 4)
    for loss in (lambda p: softmax_nce_loss(p, neg, 0.07), lambda p: nce_loss(p, neg, 0.07, torch.tensor(100.0), 50)):
        assert loss(torch.tensor([0.9])) < loss(torch.tensor([0.1]))
