"""Frozen-network features of a labeled dataset, extracted once and sharded over ranks."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pretrain.models import EmbeddingModel
from pretrain.utils import comm


@torch.no_grad()
def extract_features(
    model: EmbeddingModel, loader: DataLoader, num_samples: int, device: torch.device, desc: str = "features"
) -> dict[str, torch.Tensor]:
    """{"features", "embeddings", "labels"} for all ``num_samples`` rows, in dataset order, on every rank.

    ``loader`` yields this rank's shard (see ``build_eval_loader``) as dicts with "image",
    "index" and "label"; shards are padded to equal length so they can be all-gathered.
    """
    was_training = model.training
    model.eval()
    feats, embs, idxs, labels = [], [], [], []
    for batch in tqdm(loader, desc=desc, disable=not comm.is_main_process(), leave=False):
        f, e = model.forward_with_features(batch["image"].to(device, non_blocking=True))
        feats.append(f.float())
        embs.append(e.float())
        idxs.append(batch["index"].to(device))
        labels.append(batch["label"].to(device))
    model.train(was_training)
    local = {"features": feats, "embeddings": embs, "index": idxs, "labels": labels}
    per_rank = -(-num_samples // comm.get_world_size())
    out = {}
    for key, parts in local.items():
        t = torch.cat(parts)
        pad = per_rank - t.shape[0]
        if pad > 0:  # repeat a row: it lands on an index this rank already filled
            t = torch.cat([t, t[:1].expand(pad, *t.shape[1:])])
        out[key] = comm.all_gather(t)
    result = {}
    for key in ("features", "embeddings", "labels"):
        full = torch.zeros(num_samples, *out[key].shape[1:], dtype=out[key].dtype, device=device)
        full[out["index"]] = out[key]
        result[key] = full
    return result
