"""The linear protocol's image transforms: random crop + flip for training, center crop or ten crops for testing."""

from __future__ import annotations

import functools

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
    norm = _normalize(cfg)
    return T.Compose([T.Resize(i.TEST_RESIZE), T.TenCrop(i.SIZE), T.Lambda(functools.partial(_stack, norm=norm))])


def _stack(crops: tuple, norm: T.Compose) -> torch.Tensor:
    return torch.stack([norm(c) for c in crops])
