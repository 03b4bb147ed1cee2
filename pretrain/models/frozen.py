"""The one frozen model that every evaluation reads: probes, kNN and diagnosis.

A trained (or random) backbone, with the embedding head where the weights have one, in eval
mode and without gradients. It reads normalized images, as every torchvision model does (the
probes' transforms normalize); :meth:`FrozenModel.pixels` and :meth:`FrozenModel.normalize` give
diagnosis its input from plain pixels in [0, 1], so that gradients are taken with respect to
pixels. Where it compares images is its ``space``: "embedding" (the head's L2-normalized output,
where instance discrimination compares them) or "penultimate" (the L2-normalized pooled
features). ``pretrain.models.weights.load_frozen`` builds one from any weights file or "random".
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .alexnet import AlexNetBN

SPACES = ("embedding", "penultimate")
LAYERS = ("conv5", "fc7")  # where an AlexNet is read; other backbones: their pooled penultimate features
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB statistics of ImageNet (torchvision's), the configs' INPUT defaults
IMAGENET_STD = (0.229, 0.224, 0.225)


class AlexNetConv5(nn.Module):
    """An :class:`AlexNetBN` read at conv5 (``forward_conv5``): the probes' MODEL.ALEXNET_LAYER conv5."""

    def __init__(self, net: AlexNetBN) -> None:
        super().__init__()
        self.net = net
        self.out_channels = net.conv5_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_conv5(x)


class FrozenModel(nn.Module):
    """Backbone (and embedding head) frozen in eval mode; ``fingerprint`` names the weights it came from.

    The fingerprint keys cached features and probe checkpoints, so neither can silently come from
    other weights. ``size``, ``mean`` and ``std`` are the input the weights were trained on
    (what :meth:`pixels` and :meth:`normalize` produce).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module | None = None,
        *,
        name: str = "",
        fingerprint: str = "",
        space: str = "penultimate",
        size: int = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if space not in SPACES:
            raise ValueError(f"feature space must be one of {SPACES}, got {space!r}")
        if space == "embedding" and head is None:
            raise ValueError(f"model {name!r} has no embedding head: use the penultimate space")
        self.backbone, self.head = backbone, head
        self.name, self.fingerprint, self.space, self.size = name, fingerprint, space, size
        # Plain tensors, not buffers: the dataset normalizes on the CPU while the model sits on the device.
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenModel:
        """Always eval: BatchNorm keeps the statistics the weights were trained with."""
        return super().train(False)

    @property
    def out_channels(self) -> int:
        return self.backbone.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (an AlexNet's chosen layer) of normalized images (N, 3, H, W)."""
        return self.backbone(x)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Penultimate features -> L2-normalized rows in this model's space (the head's output, or themselves)."""
        return F.normalize(self.head(features) if self.space == "embedding" else features, dim=1)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, their rows in this model's space): what ``extract_features`` reads."""
        features = self(x)
        return features, self.embed(features)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] ((3, H, W) or (N, 3, H, W)) -> the normalized input :meth:`forward` reads."""
        return (pixels - self.mean.to(pixels.device)) / self.std.to(pixels.device)

    def pixels(self, image: np.ndarray) -> torch.Tensor:
        """An H x W x 3 uint8 image as 3 x size x size pixels in [0, 1], stretched whole (no crop).

        Diagnosis explains whole images: a center crop would cut objects out of the picture, and
        the gradient map and the true mask then cover the same pixels.
        """
        return torch.from_numpy(resize(image, self.size).astype(np.float32) / 255.0).permute(2, 0, 1)

    def prepare(self, image: np.ndarray | Image.Image) -> torch.Tensor:
        """A dataset transform: an RGB image -> normalized whole-image input (see :meth:`pixels`)."""
        return self.normalize(self.pixels(np.asarray(image)))


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (or a mask) stretched to ``size`` x ``size``: area-averaged when shrinking, bilinear otherwise."""
    interp = cv2.INTER_AREA if size < min(image.shape[:2]) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def at_layer(backbone: nn.Module, layer: str) -> nn.Module:
    """An AlexNet read at ``layer`` ("conv5" or "fc7"); other backbones as they are."""
    if layer not in LAYERS:
        raise ValueError(f"AlexNet layer must be one of {LAYERS}, got {layer!r}")
    return AlexNetConv5(backbone) if isinstance(backbone, AlexNetBN) and layer == "conv5" else backbone
