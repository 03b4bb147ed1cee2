"""A ResNet-50 from any weights file -> a detectron2 ``.pkl`` and a plain torchvision backbone ``.pth``.

detectron2 loads ``.pkl`` files whose ``__author__`` is not Caffe2 with name-matching
heuristics (``matching_heuristics``): a file key matches the model key that ends with it. The
renaming is MoCo's (``conv1``/``bn1`` -> ``stem.conv1``/``stem.conv1.norm``, ``layerN`` ->
``res(N+1)``, ``bnK`` -> ``convK.norm``, ``downsample.0/1`` -> ``shortcut``/``shortcut.norm``), so
``res2``-``res4`` land in detectron2's C4 backbone and ``res5`` in its box head.

Only a complete ResNet-50 (any width, ImageNet stem) converts: a checkpoint of another backbone,
an empty one, or one with tensors missing or mis-shaped is refused with the reason, because
detectron2 would otherwise start those weights from random and say so only in a long log.
This module does not import detectron2: converting happens where pretraining happened.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torchvision.models.resnet import Bottleneck

from pretrain.models.resnet import ResNet
from pretrain.models.weights import (
    backbone_state_dict,
    checkpoint_config,
    infer_resnet,
    is_pretraining_checkpoint,
    load_state,
    read_weights,
    with_counters,
)
from pretrain.utils.atomic import atomic_open

# Backbones of dilo's registry that are ResNet-50s (detectron2's R50-C4 with a width factor).
RESNET50_FAMILY = ("resnet50", "resnet50w2")
# Renames applied in this order, as MoCo's converter does; the stem gets its prefix first.
_RENAMES = (
    *((f"layer{i}", f"res{i + 1}") for i in range(1, 5)),
    *((f"bn{i}", f"conv{i}.norm") for i in range(1, 4)),
    ("downsample.0", "shortcut"),
    ("downsample.1", "shortcut.norm"),
)


def detectron2_name(key: str) -> str:
    """detectron2's name for a torchvision ResNet key, e.g. ``layer1.0.bn2.weight`` -> ``res2.0.conv2.norm.weight``."""
    if not key.startswith("layer"):
        key = f"stem.{key}"
    for old, new in _RENAMES:
        key = key.replace(old, new)
    return key


@dataclass
class Conversion:
    """What a conversion produced, and what it left out, for the summary and for tests."""

    source: str
    kind: str
    width: float
    backbone: dict[str, torch.Tensor]
    dropped: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def detectron2(self) -> dict[str, np.ndarray]:
        return {detectron2_name(k): v.numpy() for k, v in self.backbone.items()}

    def summary(self, outputs: dict[str, str] | None = None) -> str:
        """Human lines: the source, counts, a few renames with shapes, what was dropped, where it went."""
        n_params = sum(v.numel() for v in self.backbone.values())
        lines = [
            f"converted {len(self.backbone)} tensors ({n_params / 1e6:.1f} M values) of a ResNet-50 "
            f"(width {self.width:g}) from {self.source} ({self.kind})"
        ]
        for key in ("conv1.weight", "bn1.running_var", "layer1.0.downsample.1.weight", "layer4.2.conv3.weight"):
            shape = tuple(self.backbone[key].shape)
            lines.append(f"  {key:<30} -> {detectron2_name(key):<32} {shape}")
        if self.dropped:
            names = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
            lines.append(f"  dropped {len(self.dropped)} tensors (not backbone): {names}")
        else:
            lines.append("  dropped nothing: the file held only the backbone")
        if self.width != 1:
            c = round(64 * self.width)
            lines.append(
                f"  detectron2 needs MODEL.RESNETS.STEM_OUT_CHANNELS {c} RES2_OUT_CHANNELS {4 * c} WIDTH_PER_GROUP {c}"
            )
        for what, path in (outputs or {}).items():
            lines.append(f"  {what:<12} {path} ({os.path.getsize(path) / 2**20:.1f} MiB)")
        return "\n".join(lines)


def convert(path: str) -> Conversion:
    """Read ``path`` (a dilo checkpoint, DDP or not, or a ResNet-50 state dict) and check it is a whole ResNet-50."""
    obj = read_weights(path)
    if is_pretraining_checkpoint(obj):
        name = checkpoint_config(obj, path).MODEL.BACKBONE.NAME
        if name not in RESNET50_FAMILY:
            raise ValueError(
                f"{path!r} is a pretraining checkpoint of a {name}; detectron2's R50-C4 needs one of {RESNET50_FAMILY}"
            )
        state, kind = obj["model"], f"pretraining checkpoint, {name}, epoch {obj.get('epoch', '?')}"
    else:
        state, kind = obj.get("state_dict", obj), "state dict"
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    backbone = with_counters(backbone_state_dict(tensors))
    if not backbone:
        raise ValueError(f"{path!r} has no backbone tensors ({len(tensors)} tensors in all): nothing to convert")
    _check_resnet50(backbone, path)
    dropped = {k: tuple(v.shape) for k, v in tensors.items() if not backbone_state_dict({k: v})}
    width = backbone["conv1.weight"].shape[0] / 64
    return Conversion(path, kind, width, {k: v.detach().cpu().contiguous() for k, v in backbone.items()}, dropped)


def _check_resnet50(state: dict[str, torch.Tensor], path: str) -> None:
    """Refuse another depth, the CIFAR stem, or a partial/mis-shaped ResNet-50, saying which.

    Only names and shapes are compared, so the reference models live on the meta device (no
    random init of 23 M values; loading into them is a no-op whose warnings are silenced).
    """
    with torch.device("meta"):
        found = infer_resnet(state, path)
    blocks = [len(getattr(found, f"layer{i}")) for i in range(1, 5)]
    bottleneck = isinstance(found.layer1[0], Bottleneck)
    if not bottleneck or blocks != [3, 4, 6, 3]:
        depth = (3 if bottleneck else 2) * sum(blocks) + 2
        raise ValueError(
            f"{path!r} holds a ResNet-{depth} ({blocks} {'bottleneck' if bottleneck else 'basic'} blocks per stage); "
            "detectron2's R50-C4 needs a ResNet-50"
        )
    if found.conv1.kernel_size != (7, 7):
        raise ValueError(f"{path!r} has the 3x3 CIFAR stem; detectron2's R50-C4 needs the 7x7 ImageNet stem")
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            load_state(ResNet(50, width=state["conv1.weight"].shape[0] / 64), state, path)
    except ValueError as e:
        raise ValueError(f"refusing to convert a partial ResNet-50: {e}") from e


def save_detectron2(conversion: Conversion, path: str) -> None:
    """The ``.pkl`` that detectron2's ``MODEL.WEIGHTS`` loads by name heuristics."""
    payload: dict[str, Any] = {"model": conversion.detectron2, "__author__": "dilo", "matching_heuristics": True}
    with atomic_open(path) as f:
        pickle.dump(payload, f)


def save_torchvision(conversion: Conversion, path: str) -> None:
    """The backbone alone, torchvision's names, no ``fc``: loads into ``torchvision.models.resnet50(strict=False)``."""
    with atomic_open(path) as f:
        torch.save(conversion.backbone, f)
