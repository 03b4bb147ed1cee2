"""Backbones (a registry users can extend) and the embedding model around them."""

from __future__ import annotations

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

from .embedding import EmbeddingModel
from .resnet import ResNet

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


def build_backbone(cfg: CfgNode) -> nn.Module:
    name = cfg.MODEL.BACKBONE.NAME
    if name not in BACKBONE_REGISTRY:
        raise KeyError(
            f"MODEL.BACKBONE.NAME {name!r} is not registered; known: {sorted(k for k, _ in BACKBONE_REGISTRY)}"
        )
    return BACKBONE_REGISTRY.get(name)(cfg)


def build_model(cfg: CfgNode) -> EmbeddingModel:
    return EmbeddingModel(build_backbone(cfg), cfg.MODEL.EMBED_DIM)


__all__ = ["BACKBONE_REGISTRY", "EmbeddingModel", "ResNet", "build_backbone", "build_model"]
