"""MoCo's dictionary: a first-in first-out queue of the K most recent keys, the negatives of InfoNCE.

Like InstDisc's memory bank it is state, not a parameter: a module buffer (so it is saved in the
checkpoint with the key encoder), written only with the keys of *all* ranks, so every rank holds
the same queue after every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyQueue(nn.Module):
    """``keys`` (K, D), unit rows, initialized at random from ``seed``; ``pointer``: the next row to overwrite."""

    keys: torch.Tensor
    pointer: torch.Tensor

    def __init__(self, size: int, dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest ``len(keys)`` rows (a divisor of K, so a batch never wraps around)."""
        n, size = keys.shape[0], len(self)
        if size % n:
            raise ValueError(f"the queue's {size} keys are not a multiple of the {n} keys of a step")
        start = int(self.pointer)
        self.keys[start : start + n] = keys.to(self.keys.dtype)
        self.pointer.fill_((start + n) % size)
