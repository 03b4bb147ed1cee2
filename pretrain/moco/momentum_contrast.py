"""Momentum contrast: InfoNCE of each query against its key and the queue, the key encoder an average.

The query encoder is the network being trained (and the one that transfers); the key encoder is
its exponential moving average, updated before every step's keys, and never receives gradients.
The loss is InstDisc's softmax-NCE (:func:`pretrain.instdisc.softmax_nce_loss`): the same
cross-entropy of the positive among K + 1 candidates, its negatives the queue instead of bank rows.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

from pretrain.instdisc.loss import softmax_nce_loss
from pretrain.utils import comm
from pretrain.utils.seed import derive_seed

from .queue import KeyQueue
from .shuffle_bn import grouped_forward, shuffled_keys

QUEUE_STREAM = 8  # the seed coordinate of the queue's initial keys


class MomentumContrast(nn.Module):
    """The key encoder (a copy of ``query_encoder`` at the start) and the queue; ``forward`` gives the loss.

    Both are buffers or frozen parameters of this module, so its ``state_dict`` is what exact
    resumption needs besides the query encoder and the optimizer.
    """

    def __init__(
        self,
        query_encoder: nn.Module,
        embed_dim: int,
        queue_size: int = 65536,
        momentum: float = 0.999,
        temperature: float = 0.2,
        bn_groups: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"MOCO.MOMENTUM must be in [0, 1], got {momentum}")
        self.key_encoder = copy.deepcopy(query_encoder).requires_grad_(False)
        self.queue = KeyQueue(queue_size, embed_dim, derive_seed(seed, QUEUE_STREAM))
        self.momentum, self.temperature, self.bn_groups, self.seed = momentum, temperature, bn_groups, seed

    @torch.no_grad()
    def update_key_encoder(self, query_encoder: nn.Module) -> None:
        """key <- m key + (1 - m) query, parameter by parameter (BN statistics stay the key encoder's own)."""
        for k, q in zip(self.key_encoder.parameters(), query_encoder.parameters(), strict=True):
            k.mul_(self.momentum).add_(q.detach(), alpha=1.0 - self.momentum)

    def forward(
        self,
        model: nn.Module,
        ddp_model: Callable[[torch.Tensor], torch.Tensor],
        queries: torch.Tensor,
        keys: torch.Tensor,
        step: int,
        autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    ) -> torch.Tensor:
        """InfoNCE of this rank's query images against their key images and the queue; then enqueues the keys.

        ``model`` is the query encoder, the bare module the key encoder follows; ``ddp_model`` is the same model
        as the step runs it (DDP-wrapped, or ``model`` itself in one process). Both encoders run under
        ``autocast`` (training's mixed precision), the loss in float32.
        """
        with autocast():
            q = grouped_forward(ddp_model, queries, self.bn_groups)
        self.update_key_encoder(model)
        self.key_encoder.train(model.training)
        with autocast():
            every_key = shuffled_keys(self.key_encoder, keys, self.bn_groups, self.seed, step)
        q, every_key = q.float(), every_key.float()
        mine = every_key.view(comm.get_world_size(), -1, every_key.shape[1])[comm.get_rank()]
        negatives = self.queue.keys.clone()  # the push below writes into the queue autograd would read
        loss = softmax_nce_loss((q * mine).sum(dim=1), q @ negatives.T, self.temperature)
        self.queue.push(every_key)
        return loss
