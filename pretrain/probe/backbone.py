"""The frozen network a probe reads: weights from any file (or random), in eval mode, with a fingerprint.

The fingerprint (a digest of the weights file's bytes) keys the feature cache and is stored in
probe checkpoints, so neither cached features nor a resumed linear layer can silently come
from another backbone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from fvcore.common.config import CfgNode
from torch import nn

from pretrain.models import AlexNetBN, build_backbone
from pretrain.models.weights import load_model


class AlexNetConv5(nn.Module):
    """An :class:`AlexNetBN` read at conv5 (``forward_conv5``): the probe layer MODEL.ALEXNET_LAYER conv5."""

    def __init__(self, net: AlexNetBN) -> None:
        super().__init__()
        self.net = net
        self.out_channels = net.conv5_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_conv5(x)


@dataclass
class FrozenNetwork:
    backbone: nn.Module  # images -> pooled penultimate features (an AlexNet's MODEL.ALEXNET_LAYER)
    head: nn.Module | None  # the pretraining embedding head (features -> D), where the file has one
    fingerprint: str


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def random_backbone(cfg: CfgNode) -> nn.Module:
    """An untrained MODEL.BACKBONE.NAME, initialized from SEED (leaves the global generator as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.SEED)
        return build_backbone(cfg)


def load_frozen(cfg: CfgNode, device: torch.device) -> FrozenNetwork:
    """MODEL.WEIGHTS (a file of any kind tools accept, or "random") on ``device``, eval mode, no gradients."""
    weights = cfg.MODEL.WEIGHTS
    if not weights:
        raise ValueError(
            "MODEL.WEIGHTS is empty: give a pretraining checkpoint, a converted or torchvision .pth, or 'random'"
        )
    if weights == "random":
        m = cfg.MODEL.BACKBONE
        backbone, head = random_backbone(cfg), None
        fingerprint = f"random:{m.NAME}:{m.WIDTH}:{m.CIFAR_STEM}:{cfg.SEED}"
    else:
        loaded = load_model(weights)
        backbone, head = loaded.backbone, loaded.head
        fingerprint = f"sha1:{file_digest(weights)}"
    layer = cfg.MODEL.ALEXNET_LAYER
    if isinstance(backbone, AlexNetBN) and layer == "conv5":
        backbone, head = AlexNetConv5(backbone), None  # the embedding head reads fc7
        fingerprint += ":conv5"
    for module in (backbone, head):
        if module is not None:
            module.to(device).eval().requires_grad_(False)
    return FrozenNetwork(backbone, head, fingerprint)
