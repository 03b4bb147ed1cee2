"""ResNet backbones of the paper: ResNet-18, ResNet-50 and ResNet-50-w2.

Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ...) so that
supervised torchvision weights load directly and the detectron2 converter can rename them the
way MoCo's converter does. ``width`` multiplies *every* channel count (stem, bottleneck and
output), which is what "ResNet-50-w2" means in InstDisc/CMC; torchvision's ``wide_resnet50_2``
only widens the bottleneck and is a different network.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

_DEPTHS: dict[int, tuple[type[nn.Module], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
}


class ResNet(nn.Module):
    """A torchvision-compatible ResNet trunk without the classifier.

    ``forward`` returns the globally average-pooled penultimate features (2048-d for ResNet-50),
    the representation that linear probes and kNN read.
    """

    def __init__(self, depth: int = 50, width: float = 1.0, cifar_stem: bool = False) -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
        block, layers = _DEPTHS[depth]
        planes = [max(1, round(p * width)) for p in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        if cifar_stem:
            # 3x3 stride-1 stem without max-pool keeps the resolution of small (32-96 px) images.
            self.conv1 = nn.Conv2d(3, planes[0], 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, planes[0], 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, planes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = planes[3] * block.expansion
        self._init_weights()

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        # torchvision's Bottleneck sizes its inner width as planes * base_width / 64.
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = out
        layers += [block(out, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map (N, C, H/32, W/32), for pixel-space diagnosis."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.forward_features(x)), 1)
