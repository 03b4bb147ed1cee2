"""The pretraining network: backbone -> pooled features -> head to D -> L2 norm.

The head is InstDisc's linear layer or MoCo v2's MLP; either way it is ``head``, which the
probes may read and the detection converter drops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingModel(nn.Module):
    """``forward`` gives unit-norm D-dim embeddings; ``backbone(x)`` the penultimate features.

    ``backbone`` must expose ``out_channels`` (the width of its pooled output). ``head`` "linear" is
    one layer; "mlp" is MoCo v2's Linear(C, C), ReLU, Linear(C, D), C = ``out_channels``
    (2048-2048-128 for a ResNet-50).
    """

    def __init__(self, backbone: nn.Module, embed_dim: int = 128, head: str = "linear"):
        super().__init__()
        self.backbone = backbone
        width = backbone.out_channels
        if head == "linear":
            self.head: nn.Module = nn.Linear(width, embed_dim)
        elif head == "mlp":
            self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, embed_dim))
        else:
            raise ValueError(f"MODEL.HEAD must be 'linear' or 'mlp', got {head!r}")

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, embedding) from one pass: what the probes and kNN read."""
        features = self.backbone(x)
        return features, F.normalize(self.head(features), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[1]
