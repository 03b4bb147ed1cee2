"""The linear protocol's image transforms: random crop + flip for training, center crop or ten crops for testing."""

from __future__ import annotations

import torch
from fvcore.common.config import CfgNode
from torchvision import transforms as T


def _normalize(cfg: CfgNode) -> T.Compose:
    return T.Compose([T.ToTensor(), T.Normalize(cfg.INPUT.MEAN, cfg.INPUT.STD)])


def probe_train_transform(cfg: CfgNode) -> T.Compose:
    """RandomResizedCrop(SIZE) + horizontal flip: the protocol's only training augmentations."""
    i = cfg.INPUT
    return T.Compose(
        [T.RandomResizedCrop(i.SIZE, scale=tuple(i.CROP_SCALE)), T.RandomHorizontalFlip(i.HFLIP_PROB), _normalize(cfg)]
    )


def probe_test_transform(cfg: CfgNode, ten_crop: bool = False) -> T.Compose:
    """Resize the shorter side to TEST_RESIZE, then one center crop (3, S, S) or ten crops (10, 3, S, S)."""
    i = cfg.INPUT
    if not ten_crop:
        return T.Compose([T.Resize(i.TEST_RESIZE), T.CenterCrop(i.SIZE), _normalize(cfg)])
    return T.Compose([T.Resize(i.TEST_RESIZE), T.TenCrop(i.SIZE), StackCrops(_normalize(cfg))])


class StackCrops:
    """Crops (PIL images) -> one (K, 3, S, S) tensor, each through ``norm``; its repr shows ``norm``.

    Not a ``T.Lambda``: that repr hides the normalization, and the feature cache keys on reprs.
    """

    def __init__(self, norm: T.Compose) -> None:
        self.norm = norm

    def __call__(self, crops: tuple) -> torch.Tensor:
        return torch.stack([self.norm(c) for c in crops])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.norm!r})"
