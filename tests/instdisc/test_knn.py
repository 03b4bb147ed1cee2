import math

import torch
import torch.nn.functional as F

from pretrain.instdisc import knn_accuracy, knn_predict


def test_weighted_vote_by_hand():
    keys = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    q = torch.tensor([[1.0, 0.0]])
    scores = knn_predict(q, keys, labels, num_classes=2, k=2, temperature=0.5)
    # the 2 nearest keys are #0 (sim 1.0, class 0) and #1 (sim 0.8, class 1)
    assert torch.allclose(scores, torch.tensor([[math.exp(2.0), math.exp(1.6)]]))


def test_separable_clusters_are_classified_perfectly():
    g = torch.Generator().manual_seed(0)
    centers = F.normalize(torch.randn(5, 16, generator=g), dim=1)
    labels = torch.arange(5).repeat_interleave(40)
    feats = F.normalize(centers[labels] + 0.05 * torch.randn(200, 16, generator=g), dim=1)
    acc = knn_accuracy(feats[::2], labels[::2], feats[1::2], labels[1::2], k=10)
    assert acc["top1"] == 100.0
