"""The training sampler: one shuffle per epoch, sharded by global batch, resumable mid-epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from pretrain.utils.seed import derive_seed


class EpochSampler(Sampler[int]):
    """Shuffles by (seed, epoch); global batch t is split into ``world_size`` contiguous parts.

    Rank r of W therefore sees exactly the samples that a single process with a W times larger
    batch would see in the same step (DDP and single-process runs are comparable), and
    ``set_epoch(epoch, start_iter)`` resumes an interrupted epoch at its next batch. The last
    incomplete global batch is dropped.
    """

    def __init__(self, size: int, batch_per_rank: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        self.size, self.batch, self.rank, self.world_size, self.seed = size, batch_per_rank, rank, world_size, seed
        self.iters_per_epoch = size // (batch_per_rank * world_size)
        if self.iters_per_epoch == 0:
            raise ValueError(
                f"{size} training images cannot fill one global batch of {batch_per_rank * world_size}; "
                "lower SOLVER.IMS_PER_BATCH"
            )
        self.epoch, self.start_iter = 0, 0

    def set_epoch(self, epoch: int, start_iter: int = 0) -> None:
        self.epoch, self.start_iter = epoch, start_iter

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
        perm = torch.randperm(self.size, generator=g)[: self.iters_per_epoch * self.batch * self.world_size]
        mine = perm.view(self.iters_per_epoch, self.world_size, self.batch)[self.start_iter :, self.rank]
        return iter(mine.flatten().tolist())

    def __len__(self) -> int:
        return (self.iters_per_epoch - self.start_iter) * self.batch
