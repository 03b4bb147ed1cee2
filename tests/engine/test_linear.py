import torch

from pretrain.engine.linear import fit_linear_probe, probe_accuracy


def test_separable_problem_is_solved():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, 6, generator=g)
    x = torch.randn(6000, 32, generator=g)
    scores = (x @ w).topk(2, dim=1).values
    x = x[scores[:, 0] - scores[:, 1] > 1.0]  # a margin: separable, not merely argmax-labelled
    y = (x @ w).argmax(1)
    x = x * 3 + 5  # offset and scale: the probe standardizes
    probe = fit_linear_probe(x[:1500], y[:1500], num_classes=6)
    assert probe_accuracy(probe, x[:1500], y[:1500])["top1"] == 100.0
    assert probe_accuracy(probe, x[1500:], y[1500:])["top1"] >= 99.0


def test_unlearnable_labels_stay_near_chance():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 16, generator=g)
    y = torch.randint(4, (2000,), generator=g)
    probe = fit_linear_probe(x[:1000], y[:1000], num_classes=4)
    assert probe_accuracy(probe, x[1000:], y[1000:])["top1"] < 35.0
