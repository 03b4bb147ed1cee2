"""A model under diagnosis: any weights file as one frozen network that takes plain pixels.

Every diagnosis feeds whole images, each resized to ``size`` x ``size`` (no crop): a center crop
would cut objects out of the picture we are trying to explain, and the gradient map and the
true mask then cover the same pixels. The network normalizes its input itself, so gradients
are taken with respect to pixels in [0, 1], not to the normalized tensor.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pretrain.config import get_cfg
from pretrain.models.weights import load_model

SPACES = ("embedding", "penultimate")
DEFAULT_SIZE = 224  # input side for weights files without a config (torchvision's and converted ones)


class FrozenModel(nn.Module):
    """Backbone (and embedding head, from a pretraining checkpoint) in eval mode, fed RGB pixels in [0, 1]."""

    def __init__(
        self,
        name: str,
        backbone: nn.Module,
        head: nn.Module | None,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ):
        super().__init__()
        self.name, self.size = name, size
        self.backbone, self.head = backbone, head
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)  # gradients flow to the input only
        self.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Penultimate (pooled) features of N x 3 x H x W pixels in [0, 1]."""
        return self.backbone((pixels - self.mean) / self.std)

    def forward_with_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features, unit-norm embedding), as ``pretrain.probe.extract_features`` reads them.

        Without a head the "embedding" is the normalized penultimate feature: the space cosine
        nearest neighbours use for converted and torchvision weights.
        """
        features = self(pixels)
        embedding = self.head(features) if self.head is not None else features
        return features, F.normalize(embedding, dim=1)

    def pixels(self, image: np.ndarray) -> torch.Tensor:
        """An H x W x 3 uint8 image as the 3 x size x size float tensor this model reads."""
        return torch.from_numpy(resize(image, self.size).astype(np.float32) / 255.0).permute(2, 0, 1)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (or a mask) stretched to ``size`` x ``size``: area-averaged when shrinking, bilinear otherwise."""
    interp = cv2.INTER_AREA if size < min(image.shape[:2]) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def load_frozen_model(name: str, path: str, size: int | None = None, space: str = "penultimate") -> FrozenModel:
    """The model in ``path``; ``size`` defaults to the checkpoint's INPUT.SIZE, else 224.

    ``space`` "embedding" needs the embedding head, which only a pretraining checkpoint has.
    """
    if space not in SPACES:
        raise ValueError(f"feature space must be one of {SPACES}, got {space!r}")
    loaded = load_model(path)
    cfg, head = loaded.cfg, loaded.head
    if space == "embedding" and head is None:
        raise ValueError(
            f"{path!r} has no embedding head (only a dilo pretraining checkpoint has one); use the penultimate space"
        )
    inputs = (cfg or get_cfg()).INPUT
    size = size or (inputs.SIZE if cfg is not None else DEFAULT_SIZE)
    return FrozenModel(name, loaded.backbone, head if space == "embedding" else None, size, inputs.MEAN, inputs.STD)


def model_spec(text: str) -> tuple[str, str]:
    """``NAME=PATH`` or just ``PATH`` (then named after the file) from the command line."""
    name, sep, path = text.partition("=")
    if not sep:
        return os.path.splitext(os.path.basename(text))[0], text
    if not (name and path):
        raise ValueError(f"expected NAME=PATH or PATH for a model, got {text!r}")
    return name, path


def load_models(texts: list[str], size: int | None = None, space: str = "penultimate") -> list[FrozenModel]:
    """The models of command-line ``[NAME=]PATH`` specs; names must be distinct (they label figures and tables)."""
    specs = [model_spec(text) for text in texts]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}: name them as NAME=PATH")
    return [load_frozen_model(name, path, size, space) for name, path in specs]
