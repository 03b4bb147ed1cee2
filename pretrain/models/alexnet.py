"""AlexNet with batch norm, as self-supervised work of the InstDisc/CMC era trains it.

Five convolutions (96, 256, 384, 384, 256 channels; 11/5/3/3/3 kernels) each followed by BN
and ReLU, max-pools after conv1, conv2 and conv5, then fc6 and fc7 (4096 each) with BN and ReLU.
There is no dropout: instance discrimination does not overfit the way supervised AlexNet did.

The representation (``forward``) is fc7's output, the layer right below the embedding head.
``forward_conv5`` gives conv5 as fc6 reads it (pool5, 6 x 6 average pool, flattened: 9,216
values at full width), the layer InstDisc's AlexNet linear protocol reads and the probes' default
for AlexNet (``MODEL.ALEXNET_LAYER`` in ``pretrain/probe/defaults.py``). ``forward_features``
gives conv5's map, for pixel-space diagnosis.

Before fc6, conv5 is adaptively average-pooled to 6 x 6 (torchvision's way), so any input size
works once the convolutions have something to pool: the ImageNet stem (stride-4 11 x 11 conv and
a max-pool) needs at least 63 px; ``small_stem`` (a 3 x 3 stride-1 conv1 and no first max-pool,
``MODEL.BACKBONE.CIFAR_STEM``) runs 32-64 px images.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = (96, 256, 384, 384, 256)
FC_DIM = 4096
POOL_SIZE = 6


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _fc_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


class AlexNetBN(nn.Module):
    """conv1-5 -> 6 x 6 pool -> fc6 -> fc7; ``forward`` returns fc7 (N, ``out_channels``)."""

    def __init__(self, width: float = 1.0, small_stem: bool = False) -> None:
        super().__init__()
        c = [max(1, round(ch * width)) for ch in CHANNELS]
        fc = max(1, round(FC_DIM * width))
        stem = _conv_bn_relu(3, c[0], 3, 1, 1) if small_stem else _conv_bn_relu(3, c[0], 11, 4, 2)
        pool1: list[nn.Module] = [] if small_stem else [nn.MaxPool2d(3, 2)]
        self.features = nn.Sequential(
            *stem,
            *pool1,
            *_conv_bn_relu(c[0], c[1], 5, padding=2),
            nn.MaxPool2d(3, 2),
            *_conv_bn_relu(c[1], c[2], 3, padding=1),
            *_conv_bn_relu(c[2], c[3], 3, padding=1),
            *_conv_bn_relu(c[3], c[4], 3, padding=1),
        )
        self.pool5 = nn.MaxPool2d(3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(POOL_SIZE)
        self.fc6 = _fc_bn_relu(c[4] * POOL_SIZE * POOL_SIZE, fc)
        self.fc7 = _fc_bn_relu(fc, fc)
        self.out_channels = fc
        self.min_size = 7 if small_stem else 63  # the smallest input pool5 still gets 3 x 3 of
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """conv5's feature map after BN and ReLU (before pool5)."""
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"AlexNetBN needs images of at least {self.min_size} px, got {tuple(x.shape[-2:])}; "
                "for small images set MODEL.BACKBONE.CIFAR_STEM True"
            )
        return self.features(x)

    @property
    def conv5_channels(self) -> int:
        """Width of :meth:`forward_conv5`'s rows."""
        return self.fc6[0].in_features

    def forward_conv5(self, x: torch.Tensor) -> torch.Tensor:
        """conv5 pooled as fc6 reads it: pool5, then the 6 x 6 average pool, flattened (N, ``conv5_channels``)."""
        return torch.flatten(self.avgpool(self.pool5(self.forward_features(x))), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc7(self.fc6(self.forward_conv5(x)))
