"""A linear classifier fitted at once on extracted features: the fast probe, the end-of-run summary, diagnosis.

The paper's protocol (SGD lr 30 for 100 epochs on augmented crops) needs a full data pass per
epoch; on features extracted once from the center crop, an L2-regularized multinomial
logistic regression solved by L-BFGS gives the same kind of number in seconds. Features are
standardized with the training set's statistics first, so one regularization strength fits
all backbones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.utils.accuracy import topk_accuracy


class LinearProbe(nn.Module):
    """Standardize with fixed statistics, then one linear layer."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.fc = nn.Linear(mean.numel(), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc((x - self.mean) / self.std)


def fit_linear_probe(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float = 1e-3, max_iter: int = 200
) -> LinearProbe:
    """Minimize cross-entropy + weight_decay/2 * ||W||^2 over all rows at once (L-BFGS)."""
    features = features.float()
    probe = LinearProbe(features.mean(0), features.std(0).clamp_min(1e-6), num_classes).to(features.device)
    # The objective is convex: start at zero, so the fit is a function of the features alone (a
    # random start drawn from the global generator made it depend on whatever ran before).
    nn.init.zeros_(probe.fc.weight)
    nn.init.zeros_(probe.fc.bias)
    opt = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(probe(features), labels) + 0.5 * weight_decay * probe.fc.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return probe.eval()


@torch.no_grad()
def probe_accuracy(probe: LinearProbe, features: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return topk_accuracy(probe(features.float()), labels)
