"""The one feature extractor: a network's outputs for a labeled dataset, sharded over ranks, gathered in order.

The kNN monitor reads the training model through it, the probes a frozen model's crops, diagnosis
a frozen model's whole images; all three get {"features", ..., "labels"} rows in dataset order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from pretrain.data import LabeledImages
from pretrain.models import EmbeddingModel
from pretrain.models.frozen import FrozenModel
from pretrain.utils import comm

Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]


GATHER_ROWS = 65536  # rows per rank and all-gather step: bounds the device memory the gather needs


def _store(out: dict[str, torch.Tensor], rows: int, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Empty CPU buffers of ``rows`` rows shaped like ``out``'s values (floating ones in ``dtype`` when given)."""
    return {
        key: torch.empty(rows, *value.shape[1:], dtype=dtype if dtype and value.is_floating_point() else value.dtype)
        for key, value in out.items()
    }


def gather_rows(
    local: dict[str, torch.Tensor], index: torch.Tensor, num_samples: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Every rank's rows (equal counts, ``index`` giving their dataset rows) in dataset order, on the CPU.

    Shards travel through the device GATHER_ROWS rows per rank at a time (NCCL gathers device tensors).
    """
    full = {key: torch.empty(num_samples, *value.shape[1:], dtype=value.dtype) for key, value in local.items()}
    for start in range(0, index.shape[0], GATHER_ROWS):
        rows = comm.all_gather(index[start : start + GATHER_ROWS].to(device)).cpu()
        for key, value in local.items():
            full[key][rows] = comm.all_gather(value[start : start + GATHER_ROWS].to(device)).cpu()
    return full


@torch.no_grad()
def gather_outputs(
    forward: Forward,
    loader: DataLoader,
    num_samples: int,
    device: torch.device,
    desc: str = "features",
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """``forward``'s outputs and "labels" for all ``num_samples`` rows, in dataset order, on the CPU of every rank.

    ``loader`` yields this rank's shard (see ``pretrain.data.eval_loader``) as dicts with "image", "index"
    and "label". Each batch's outputs leave the device as soon as they are computed (floating ones
    cast to ``dtype`` when given), so the device holds one batch; shards are padded to equal length
    and all-gathered in steps of GATHER_ROWS rows.
    """
    world = comm.get_world_size()
    rows = num_samples if world == 1 else -(-num_samples // world)
    local: dict[str, torch.Tensor] = {}
    index = torch.empty(rows, dtype=torch.long)
    filled = 0
    for batch in tqdm(loader, desc=desc, disable=not comm.is_main_process(), leave=False):
        out = forward(batch["image"].to(device, non_blocking=True)) | {"labels": batch["label"]}
        local = local or _store(out, rows, dtype)
        n = batch["index"].shape[0]
        where = batch["index"] if world == 1 else slice(filled, filled + n)  # one process: dataset rows at once
        for key, value in out.items():
            local[key][where] = value.to("cpu", local[key].dtype)
        index[filled : filled + n] = batch["index"]
        filled += n
    if world == 1:
        return local
    for value in (*local.values(), index):  # repeat a row: it lands on an index this rank already filled
        value[filled:] = value[:1]
    return gather_rows(local, index, num_samples, device)


@torch.no_grad()
def extract_features(
    model: EmbeddingModel | FrozenModel,
    loader: DataLoader,
    num_samples: int,
    device: torch.device,
    desc: str = "features",
) -> dict[str, torch.Tensor]:
    """{"features", "embeddings", "labels"} (float32) for all ``num_samples`` rows, in dataset order, on every
    rank's CPU (see :func:`gather_outputs`); "embeddings" are the model's L2-normalized rows in its space."""
    was_training = model.training
    model.eval()

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        f, e = model.forward_with_features(x)
        return {"features": f.float(), "embeddings": e.float()}

    try:
        return gather_outputs(forward, loader, num_samples, device, desc)
    finally:
        model.train(was_training)


def crop_features(model: nn.Module) -> Forward:
    """Images (B, 3, H, W) or crops (B, K, 3, H, W) -> {"features": (B, K, C)} (K = 1 for single images)."""

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        crops = x.shape[1] if x.dim() == 5 else 1
        f = model(x.reshape(-1, *x.shape[-3:])).float()
        return {"features": f.view(x.shape[0], crops, -1)}

    return forward


def whole_image_features(
    model: FrozenModel, images: LabeledImages, device: torch.device, desc: str = "features", batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """:func:`extract_features` of ``images`` as ``model`` reads whole images (``model.prepare``), in order."""
    loader = DataLoader(images.with_transform(model.prepare), batch_size=batch_size)
    return extract_features(model.to(device), loader, len(images), device, desc)
