"""Backbones (a registry users can extend) and the embedding model around them.

Only :func:`build_model` reads a config; everything else takes plain values (a
:class:`BackboneSpec`), so tests and tools build models without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

from .alexnet import AlexNetBN
from .embedding import EmbeddingModel
from .resnet import ResNet
from .vgg import VGG16BN

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """Backbones by name: ``fn(*, width: float, cifar_stem: bool) -> nn.Module``.

``width`` multiplies every channel count (1.0: the published network); ``cifar_stem`` asks for a
stem that keeps small (32-64 px) images' resolution (a backbone without one may ignore it). The
module maps normalized images (N, 3, H, W) to pooled features (N, C) and exposes
``out_channels`` = C. Register your own with ``@BACKBONE_REGISTRY.register()`` and name it in
``MODEL.BACKBONE.NAME`` (or :class:`BackboneSpec`'s ``name``).
"""


@dataclass(frozen=True)
class BackboneSpec:
    """Which backbone to build: a BACKBONE_REGISTRY ``name`` and the keyword values it takes.

    Frozen and plain so it can name a backbone anywhere (a "random" probe, a fingerprint) without a config.
    """

    name: str
    width: float = 1.0  # channel multiplier
    cifar_stem: bool = False  # a small-image stem (3x3 stride-1 conv1, no max-pool)


@BACKBONE_REGISTRY.register()
def resnet18(*, width: float, cifar_stem: bool) -> nn.Module:
    return ResNet(18, width=width, cifar_stem=cifar_stem)


@BACKBONE_REGISTRY.register()
def resnet50(*, width: float, cifar_stem: bool) -> nn.Module:
    return ResNet(50, width=width, cifar_stem=cifar_stem)


@BACKBONE_REGISTRY.register()
def resnet50w2(*, width: float, cifar_stem: bool) -> nn.Module:
    """ResNet-50 with every width doubled (stem 128, output 4096): InstDisc/CMC's R50-w2."""
    return ResNet(50, width=width * 2.0, cifar_stem=cifar_stem)


@BACKBONE_REGISTRY.register()
def alexnet_bn(*, width: float, cifar_stem: bool) -> nn.Module:
    """AlexNet with BN; the probes read pooled conv5 (or fc7). ``cifar_stem``: a 3x3 stride-1 conv1 for small images."""
    return AlexNetBN(width=width, small_stem=cifar_stem)


@BACKBONE_REGISTRY.register()
def vgg16_bn(*, width: float, cifar_stem: bool) -> nn.Module:
    """VGG16 with BN (torchvision's ``features.*``); the probes read pooled conv5_3. ``cifar_stem`` is ignored:
    the stem is 3x3 stride 1 already, and global pooling takes any input of at least 32 px."""
    return VGG16BN(width=width)


def build_backbone(spec: BackboneSpec) -> nn.Module:
    """The registered backbone ``spec.name`` with ``spec``'s width and stem.

    Raises:
        KeyError: ``spec.name`` is not registered (the message lists the names that are).
    """
    if spec.name not in BACKBONE_REGISTRY:
        raise KeyError(
            f"backbone {spec.name!r} (MODEL.BACKBONE.NAME) is not registered; "
            f"known: {sorted(k for k, _ in BACKBONE_REGISTRY)}"
        )
    return BACKBONE_REGISTRY.get(spec.name)(width=spec.width, cifar_stem=spec.cifar_stem)


def build_model(cfg: CfgNode) -> EmbeddingModel:
    """The pretraining network of ``cfg``: MODEL.BACKBONE.{NAME, WIDTH, CIFAR_STEM}, MODEL.EMBED_DIM, MODEL.HEAD.

    The one function of ``pretrain.models`` that reads a config (detectron2's ``from_config`` role).
    The backbone is built before the head, so a seed gives the same weights as it always has.
    """
    b = cfg.MODEL.BACKBONE
    backbone = build_backbone(BackboneSpec(b.NAME, width=b.WIDTH, cifar_stem=b.CIFAR_STEM))
    return EmbeddingModel(backbone, cfg.MODEL.EMBED_DIM, cfg.MODEL.HEAD)


__all__ = [
    "BACKBONE_REGISTRY",
    "VGG16BN",
    "AlexNetBN",
    "BackboneSpec",
    "EmbeddingModel",
    "ResNet",
    "build_backbone",
    "build_model",
]
