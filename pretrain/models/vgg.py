"""VGG16 with batch norm (the paper's Table 3), with torchvision's ``vgg16_bn`` parameter names.

``features.*`` is exactly torchvision's ``vgg16_bn().features`` (13 conv-BN-ReLU layers and five
max-pools), so supervised torchvision weights load into it. torchvision's classifier (fc6, fc7,
fc8: 120M parameters, most of them in fc6) is replaced, as in self-supervised VGG training, by
global average pooling of conv5_3: the 512-d representation (``forward``) that the embedding head
and the probes read is the layer right below the head, as for the ResNets. Global pooling makes
any input of at least 32 px work (the five pools leave 1 x 1 at 32 px, 7 x 7 at 224 px).
"""

from __future__ import annotations

import torch
from torch import nn

# torchvision's configuration "D": channels per conv, "M" for a 2 x 2 max-pool.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(nn.Module):
    """conv1_1 ... conv5_3 with BN -> global average pool; ``forward`` returns (N, ``out_channels``)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            cout = max(1, round(int(v) * width))
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """conv5_3's feature map after BN, ReLU and the last max-pool (N, 512, H/32, W/32)."""
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"VGG16BN needs images of at least 32 px (five 2x2 pools), got {tuple(x.shape[-2:])}")
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.forward_features(x)), 1)
