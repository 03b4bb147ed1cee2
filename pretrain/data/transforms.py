"""The InstDisc augmentations (training) and the single center crop (evaluation)."""

from __future__ import annotations

from fvcore.common.config import CfgNode
from torchvision import transforms as T


def _normalize(cfg: CfgNode) -> list:
    return [T.ToTensor(), T.Normalize(cfg.INPUT.MEAN, cfg.INPUT.STD)]


def build_train_transform(cfg: CfgNode) -> T.Compose:
    """RandomResizedCrop, RandomGrayscale, ColorJitter, flip: the order of InstDisc's code."""
    return T.Compose(
        [
            T.RandomResizedCrop(cfg.INPUT.SIZE, scale=tuple(cfg.INPUT.CROP_SCALE)),
            T.RandomGrayscale(p=cfg.INPUT.GRAYSCALE_PROB),
            T.ColorJitter(*cfg.INPUT.COLOR_JITTER),
            T.RandomHorizontalFlip(p=cfg.INPUT.HFLIP_PROB),
            *_normalize(cfg),
        ]
    )


def build_test_transform(cfg: CfgNode) -> T.Compose:
    """Resize the shorter side to TEST_RESIZE, then one center crop of SIZE."""
    return T.Compose([T.Resize(cfg.INPUT.TEST_RESIZE), T.CenterCrop(cfg.INPUT.SIZE), *_normalize(cfg)])
