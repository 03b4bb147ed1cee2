"""The instance-discrimination network: backbone -> pooled features -> linear to D -> L2 norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EmbeddingModel(nn.Module):
    """``forward`` gives unit-norm D-dim embeddings; ``backbone(x)`` the penultimate features.

    ``backbone`` must expose ``out_channels`` (the width of its pooled output).
    """

    def __init__(self, backbone: nn.Module, embed_dim: int = 128):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, embed_dim)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, embedding) from one pass: what the probes and kNN read."""
        features = self.backbone(x)
        return features, F.normalize(self.head(features), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[1]
