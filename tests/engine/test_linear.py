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


def test_the_fit_does_not_depend_on_the_global_generator():
    """The end-of-run probe and the localization score's classifier run after training, whatever
    the global generator holds then: the fit must be a function of the features alone."""
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 8, generator=g), torch.randint(3, (300,), generator=g)
    fits = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        fits.append(fit_linear_probe(x, y, num_classes=3, max_iter=5))  # far from converged: the start shows
    assert torch.equal(fits[0].fc.weight, fits[1].fc.weight) and torch.equal(fits[0].fc.bias, fits[1].fc.bias)
