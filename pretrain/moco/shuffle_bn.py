"""Batch norm without a leak: the query and its positive key never share batch statistics.

BN normalizes each sample with statistics of the samples beside it. If a query and its own key
were normalized within the same group, the pair would share a signature that the queue's keys
(other batches) lack, and the encoder could find the positive from that signature instead of
the image: the loss falls and the features learn less (MoCo, Sec. 3.3). MoCo shuffles the key
batch across GPUs; here the same holds for any number of processes and BN groups per process:
queries are normalized in this process's ``groups`` consecutive chunks, keys in chunks of a
batch permuted over all processes, so a key's group is a random draw from the global batch.
With one process and one group the two groups coincide: that is why MOCO.BN_GROUPS exists.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pretrain.utils import comm
from pretrain.utils.seed import derive_seed

SHUFFLE_STREAM = 7  # the seed coordinate of the key permutations (InstDisc's negatives use 0 and 1 + rank)


def grouped_forward(encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, groups: int) -> torch.Tensor:
    """``encoder`` on ``groups`` consecutive chunks of ``images``, concatenated: BN statistics per chunk."""
    if groups == 1:
        return encoder(images)
    return torch.cat([encoder(chunk) for chunk in images.chunk(groups)])


@torch.no_grad()
def shuffled_keys(
    encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, groups: int, seed: int, step: int
) -> torch.Tensor:
    """The keys of every rank's ``images``, (world x B, D) in rank order, each computed in a BN group drawn
    at random from the global batch.

    The permutation is a pure function of (seed, step), the same on every rank without a broadcast;
    each rank encodes its share of the permuted global batch in ``groups`` chunks, and the gathered
    keys are put back in order. Every rank returns the same tensor: its own keys are rows
    rank x B ... (rank + 1) x B, and all of them go into the queue.
    """
    world, rank = comm.get_world_size(), comm.get_rank()
    everything = comm.all_gather(images)
    g = torch.Generator().manual_seed(derive_seed(seed, SHUFFLE_STREAM, step))
    order = torch.randperm(everything.shape[0], generator=g).to(images.device)
    mine = order.view(world, -1)[rank]
    keys = comm.all_gather(grouped_forward(encoder, everything[mine], groups).contiguous())
    out = torch.empty_like(keys)
    out[order] = keys
    return out
