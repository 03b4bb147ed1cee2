"""Backbones (a registry users can extend) and the embedding model around them."""

from __future__ import annotations

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

from .alexnet import AlexNetBN
from .embedding import EmbeddingModel
from .resnet import ResNet
from .vgg import VGG16BN

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = """Backbones: ``fn(cfg) -> nn.Module`` with ``out_channels``, returning pooled features.

Register your own with ``@BACKBONE_REGISTRY.register()`` and set ``MODEL.BACKBONE.NAME``.
"""


def _resnet(cfg: CfgNode, depth: int, width_factor: float = 1.0) -> ResNet:
    b = cfg.MODEL.BACKBONE
    return ResNet(depth, width=b.WIDTH * width_factor, cifar_stem=b.CIFAR_STEM)


@BACKBONE_REGISTRY.register()
def resnet18(cfg: CfgNode) -> nn.Module:
    return _resnet(cfg, 18)


@BACKBONE_REGISTRY.register()
def resnet50(cfg: CfgNode) -> nn.Module:
    return _resnet(cfg, 50)


@BACKBONE_REGISTRY.register()
def resnet50w2(cfg: CfgNode) -> nn.Module:
    """ResNet-50 with every width doubled (stem 128, output 4096): InstDisc/CMC's R50-w2."""
    return _resnet(cfg, 50, 2.0)


@BACKBONE_REGISTRY.register()
def alexnet_bn(cfg: CfgNode) -> nn.Module:
    """AlexNet with BN; the probes read pooled conv5 (or fc7). CIFAR_STEM: a 3x3 stride-1 conv1 for small images."""
    b = cfg.MODEL.BACKBONE
    return AlexNetBN(width=b.WIDTH, small_stem=b.CIFAR_STEM)


@BACKBONE_REGISTRY.register()
def vgg16_bn(cfg: CfgNode) -> nn.Module:
    """VGG16 with BN (torchvision's ``features.*``); the probes read pooled conv5_3."""
    return VGG16BN(width=cfg.MODEL.BACKBONE.WIDTH)


def build_backbone(cfg: CfgNode) -> nn.Module:
    name = cfg.MODEL.BACKBONE.NAME
    if name not in BACKBONE_REGISTRY:
        raise KeyError(
            f"MODEL.BACKBONE.NAME {name!r} is not registered; known: {sorted(k for k, _ in BACKBONE_REGISTRY)}"
        )
    return BACKBONE_REGISTRY.get(name)(cfg)


def build_model(cfg: CfgNode) -> EmbeddingModel:
    return EmbeddingModel(build_backbone(cfg), cfg.MODEL.EMBED_DIM, cfg.MODEL.HEAD)


__all__ = ["BACKBONE_REGISTRY", "VGG16BN", "AlexNetBN", "EmbeddingModel", "ResNet", "build_backbone", "build_model"]
