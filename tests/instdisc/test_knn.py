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


def test_similarity_blocks_give_the_one_block_scores():
    g = torch.Generator().manual_seed(1)
    keys = F.normalize(torch.randn(300, 8, generator=g), dim=1)
    labels = torch.randint(0, 6, (300,), generator=g)
    queries = F.normalize(torch.randn(50, 8, generator=g), dim=1)
    whole = knn_predict(queries, keys, labels, 6, k=20, max_elements=50 * 300)
    for budget in (1, 299, 300 * 7 + 5):  # one query per block (the floor), then 1 and 7 queries
        blocked = knn_predict(queries, keys, labels, 6, k=20, max_elements=budget)
        torch.testing.assert_close(blocked, whole, rtol=1e-5, atol=0)  # BLAS rounds blocks apart, exp(s / T) amplifies
        assert torch.equal(blocked.argmax(1), whole.argmax(1))
