"""Weighted kNN classification in embedding space (InstDisc's monitor and evaluation)."""

from __future__ import annotations

import torch

from pretrain.utils.accuracy import topk_accuracy


@torch.no_grad()
def knn_predict(
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores (Q, C): each of the k most similar keys votes exp(sim / T) for its label.

    ``queries`` and ``keys`` are L2-normalized rows; the (Q, N) similarity matrix is built in
    chunks of queries, so N may be a 1.28M-row bank.
    """
    k = min(k, keys.shape[0])
    scores = []
    for q in queries.split(chunk):
        sim, idx = (q.to(keys.dtype) @ keys.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, device=q.device, dtype=torch.float32)
        votes.scatter_add_(1, key_labels[idx], (sim.float() / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def knn_accuracy(
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    keys: torch.Tensor,
    key_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.07,
) -> dict[str, float]:
    """Top-1 and top-5 accuracy (percent) of :func:`knn_predict`."""
    num_classes = int(max(key_labels.max(), query_labels.max())) + 1
    scores = knn_predict(queries, keys, key_labels, num_classes, k, temperature)
    return topk_accuracy(scores, query_labels)
