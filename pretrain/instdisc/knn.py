"""Weighted kNN classification in embedding space (InstDisc's monitor and evaluation)."""

from __future__ import annotations

import torch

from pretrain.utils.accuracy import topk_accuracy

SIMILARITY_ELEMENTS = 1 << 26  # entries of one query block's similarity matrix: 256 MB in float32


@torch.no_grad()
def knn_predict(
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
    max_elements: int = SIMILARITY_ELEMENTS,
) -> torch.Tensor:
    """Class scores (Q, C) on ``keys``' device: each of the k most similar keys votes exp(sim / T) for its label.

    ``queries`` and ``keys`` are L2-normalized rows; queries may live elsewhere (e.g. on the CPU) and
    move over one block at a time. The (Q, N) similarity matrix is built in blocks of at most
    ``max_elements`` entries (at least one query per block), so 50k queries against a 1.28M-row bank
    never hold more than one block.
    """
    k = min(k, keys.shape[0])
    chunk = max(1, max_elements // max(1, keys.shape[0]))
    key_labels = key_labels.to(keys.device)
    scores = []
    for q in queries.split(chunk):
        sim, idx = (q.to(keys.device, keys.dtype) @ keys.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, device=keys.device, dtype=torch.float32)
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
    num_classes = max(int(key_labels.max()), int(query_labels.max())) + 1
    scores = knn_predict(queries, keys, key_labels, num_classes, k, temperature)
    return topk_accuracy(scores, query_labels.to(scores.device))
