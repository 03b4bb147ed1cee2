"""The memory bank of non-parametric instance discrimination (Wu et al., CVPR 2018).

One L2-normalized D-dim feature per training image. It is *state*, not a parameter: no
gradient flows into it, DDP never broadcasts it, and it is saved in checkpoints. Under DDP the
caller passes the features and indices gathered from every rank, so all ranks apply the same
update and keep identical banks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class MemoryBank:
    """An N x D bank, initialized uniformly in [-s, s] with s = 1 / sqrt(D / 3) (InstDisc)."""

    def __init__(self, size: int, dim: int, momentum: float = 0.5, seed: int = 0, device: str | torch.device = "cpu"):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"bank momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        s = 1.0 / math.sqrt(dim / 3)
        g = torch.Generator().manual_seed(seed)
        self.features = (torch.rand(size, dim, generator=g) * (2 * s) - s).to(device)

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` (any shape) -> ``indices.shape + (D,)``, a copy."""
        return self.features.index_select(0, indices.reshape(-1)).view(*indices.shape, self.dim)

    @torch.no_grad()
    def update(self, features: torch.Tensor, indices: torch.Tensor) -> None:
        """m_i <- normalize(momentum * m_i + (1 - momentum) * f_i) for each (f_i, i)."""
        mixed = self.momentum * self.features.index_select(0, indices)
        mixed.add_(features.detach().to(self.features.dtype), alpha=1.0 - self.momentum)
        self.features.index_copy_(0, indices, F.normalize(mixed, dim=1))

    def state_dict(self) -> dict[str, torch.Tensor | float]:
        return {"features": self.features.cpu(), "momentum": self.momentum}

    def load_state_dict(self, state: dict) -> None:
        feats = state["features"]
        if feats.shape != self.features.shape:
            raise ValueError(
                f"memory bank of shape {tuple(feats.shape)} does not fit this run's "
                f"{tuple(self.features.shape)} (number of training images x EMBED_DIM)"
            )
        self.features.copy_(feats)
        self.momentum = float(state["momentum"])
