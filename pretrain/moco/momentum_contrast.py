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
        # Sums of the three similarities of :meth:`similarities` and the steps they cover; not checkpointed.
        self.register_buffer("similarity_sums", torch.zeros(3), persistent=False)
        self.similarity_steps = 0

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
        positive, queue = (q * mine).sum(dim=1), q @ negatives.T
        loss = softmax_nce_loss(positive, queue, self.temperature)
        self._add_similarities(q.detach(), mine, positive.detach(), queue.detach())
        self.queue.push(every_key)
        return loss

    @torch.no_grad()
    def _add_similarities(
        self, q: torch.Tensor, keys: torch.Tensor, positive: torch.Tensor, queue: torch.Tensor
    ) -> None:
        n = len(q)
        cross = q @ keys.T
        batch = (cross.sum() - cross.diagonal().sum()) / max(n * (n - 1), 1)
        self.similarity_sums += torch.stack([positive.mean(), batch, queue.mean()])
        self.similarity_steps += 1

    def similarities(self) -> dict[str, float]:
        """Mean cosines of a query, over this process's steps since the last call (then reset; {} if none):
        ``moco_positive`` with its own key, ``moco_batch`` with the other images' keys of the same step (made by
        the same key encoder, never used as negatives), ``moco_queue`` with the queue's keys (the negatives, made
        by the key encoder of up to QUEUE_SIZE / batch steps before).

        Instance discrimination shows as positive well above batch; positive close to batch but above queue
        means a query tells its key from the negatives by the key encoder's drift, not by the instance.
        """
        if not self.similarity_steps:
            return {}
        means = (self.similarity_sums / self.similarity_steps).tolist()
        self.similarity_sums.zero_()
        self.similarity_steps = 0
        return dict(zip(("moco_positive", "moco_batch", "moco_queue"), means, strict=True))
