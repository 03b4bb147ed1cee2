"""Frozen-network outputs of a labeled dataset, computed once and sharded over ranks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pretrain.models import EmbeddingModel
from pretrain.utils import comm

Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@torch.no_grad()
def gather_outputs(
    forward: Forward, loader: DataLoader, num_samples: int, device: torch.device, desc: str = "features"
) -> dict[str, torch.Tensor]:
    """``forward``'s outputs and "labels" for all ``num_samples`` rows, in dataset order, on every rank.

    ``loader`` yields this rank's shard (see ``build_eval_loader``) as dicts with "image",
    "index" and "label"; shards are padded to equal length so they can be all-gathered.
    """
    parts: dict[str, list[torch.Tensor]] = defaultdict(list)
    for batch in tqdm(loader, desc=desc, disable=not comm.is_main_process(), leave=False):
        out = forward(batch["image"].to(device, non_blocking=True))
        out |= {"index": batch["index"].to(device), "labels": batch["label"].to(device)}
        for key, value in out.items():
            parts[key].append(value)
    per_rank = -(-num_samples // comm.get_world_size())
    gathered = {}
    for key, chunks in parts.items():
        t = torch.cat(chunks)
        pad = per_rank - t.shape[0]
        if pad > 0:  # repeat a row: it lands on an index this rank already filled
            t = torch.cat([t, t[:1].expand(pad, *t.shape[1:])])
        gathered[key] = comm.all_gather(t)
    index = gathered.pop("index")
    result = {}
    for key, value in gathered.items():
        full = torch.zeros(num_samples, *value.shape[1:], dtype=value.dtype, device=device)
        full[index] = value
        result[key] = full
    return result


@torch.no_grad()
def extract_features(
    model: EmbeddingModel, loader: DataLoader, num_samples: int, device: torch.device, desc: str = "features"
) -> dict[str, torch.Tensor]:
    """{"features", "embeddings", "labels"} for all ``num_samples`` rows, in dataset order, on every rank."""
    was_training = model.training
    model.eval()

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        f, e = model.forward_with_features(x)
        return {"features": f.float(), "embeddings": e.float()}

    try:
        return gather_outputs(forward, loader, num_samples, device, desc)
    finally:
        model.train(was_training)


def crop_features(backbone: nn.Module) -> Forward:
    """Images (B, 3, H, W) or crops (B, K, 3, H, W) -> {"features": (B, K, C)} (K = 1 for single images)."""

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        crops = x.shape[1] if x.dim() == 5 else 1
        f = backbone(x.reshape(-1, *x.shape[-3:])).float()
        return {"features": f.view(x.shape[0], crops, -1)}

    return forward
