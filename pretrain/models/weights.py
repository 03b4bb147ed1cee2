"""Frozen backbones from any weights file a user has: a dilo checkpoint, a converted or a torchvision ``.pth``.

Probes, kNN, diagnosis figures and the converters all start here (:func:`load_frozen`), so every
tool accepts the same three kinds of file (or "random") and fails the same way on a wrong one.
A dilo pretraining checkpoint carries its config, which names the backbone; a plain state dict
(``tools/convert.py``'s ``.pth`` or torchvision's supervised ImageNet weights) is recognised as a
ResNet by its keys and its depth, width and stem are read from the tensors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from fvcore.common.config import CfgNode
from torch import nn

from pretrain.config import get_cfg
from pretrain.utils.torch_file import load_torch_file

from . import BackboneSpec, build_backbone, build_model
from .frozen import IMAGENET_MEAN, IMAGENET_STD, FrozenModel, at_layer
from .resnet import ResNet

# Prefixes a backbone key can carry: DDP's wrapper, then dilo's embedding model.
_PREFIXES = ("module.", "backbone.")
# What a backbone-only file must not keep: dilo's embedding head, torchvision's classifier.
_HEADS = ("head.", "fc.")
COUNTER = "num_batches_tracked"  # a BatchNorm buffer older files lack
DEFAULT_SIZE = 224  # input side for weights files without a config (torchvision's and converted ones)


def read_weights(path: str) -> dict[str, Any]:
    """The dict in ``path`` (tensors and plain types only), with an error naming ``path`` otherwise."""
    obj = load_torch_file(path)
    if not isinstance(obj, dict):
        raise ValueError(f"weights file {path!r} holds a {type(obj).__name__}, expected a dict")
    return obj


def is_pretraining_checkpoint(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get("model"), dict) and "config" in obj


def backbone_state_dict(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The backbone's tensors with torchvision names: wrappers stripped, heads dropped."""
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        if not key.startswith(_HEADS):
            out[key] = value
    return out


def infer_resnet(state: dict[str, torch.Tensor], path: str = "<state dict>") -> ResNet:
    """The ResNet whose parameters ``state`` holds: depth from its blocks, width and stem from conv1."""
    if "conv1.weight" not in state or not any(k.startswith("layer4.") for k in state):
        raise ValueError(
            f"{path!r} is not a ResNet state dict (no conv1.weight / layer4.*); "
            "other backbones load from a dilo pretraining checkpoint, which names its architecture"
        )
    bottleneck = any(k.endswith(".conv3.weight") for k in state)
    blocks = [len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in range(1, 5)]
    block_depth = 3 if bottleneck else 2
    depth = block_depth * sum(blocks) + 2
    stem = state["conv1.weight"]
    return ResNet(depth, width=stem.shape[0] / 64, cifar_stem=stem.shape[-1] == 3)


def load_state(model: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """``load_state_dict(strict=True)`` with the mismatch spelled out for the user (see :func:`with_counters`)."""
    state = with_counters(state)
    missing, unexpected = _key_diff(model.state_dict(), state)
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in model.state_dict().items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path!r} does not fit a {type(model).__name__}: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(shapes)} mis-shaped {shapes[:5]}"
        )
    model.load_state_dict(state)


def with_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with a zero ``num_batches_tracked`` for every BatchNorm that lacks one.

    Files saved before PyTorch 0.4.1 (e.g. torchvision's ``resnet50-19c8e357.pth``, the file
    detectron2's converter names) have no such buffer; it only counts steps, and a BatchNorm
    with a momentum (all of dilo's) never reads it.
    """
    counters = {
        k.removesuffix("running_var") + COUNTER: torch.tensor(0)
        for k in state
        if k.endswith(".running_var") and k.removesuffix("running_var") + COUNTER not in state
    }
    return {**state, **counters}


def _key_diff(expected: dict[str, Any], given: dict[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(given)), sorted(set(given) - set(expected))


def checkpoint_config(obj: dict[str, Any], path: str = "<checkpoint>") -> CfgNode:
    """The config a pretraining checkpoint was trained with, over today's defaults."""
    cfg = get_cfg()
    try:
        cfg.merge_from_other_cfg(CfgNode.load_cfg(obj["config"]))
    except KeyError as e:
        raise ValueError(f"checkpoint {path!r} has a config key this version does not know: {e}") from e
    cfg.freeze()
    return cfg


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_model(path: str) -> tuple[nn.Module, nn.Module | None, CfgNode | None]:
    """(backbone, embedding head or None, config or None) of ``path`` (any of the three kinds), on the CPU."""
    obj = read_weights(path)
    if not is_pretraining_checkpoint(obj):
        state = backbone_state_dict(obj.get("state_dict", obj))  # torchvision files may nest it
        backbone = infer_resnet(state, path)
        load_state(backbone, state, path)
        return backbone, None, None
    cfg = checkpoint_config(obj, path)
    model = build_model(cfg)
    load_state(model, {k.removeprefix("module."): v for k, v in obj["model"].items()}, path)
    return model.backbone, model.head, cfg


def load_backbone(path: str) -> nn.Module:
    """The backbone of ``path`` (any of the three kinds), in eval mode, on the CPU."""
    return read_model(path)[0].eval()


def load_frozen(
    weights: str,
    *,
    random: BackboneSpec | None = None,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    name: str = "",
    space: str = "auto",
    layer: str = "fc7",
    size: int = 0,
) -> FrozenModel:
    """The :class:`FrozenModel` of ``weights``: a file of any of the three kinds, or "random".

    Args:
        weights: a weights file path, or "random": an untrained ``random`` backbone initialized from
            ``seed`` (the global generator is left as it was). ``random`` is ignored for a file, which
            names its own backbone.
        mean, std: RGB input statistics (in [0, 1] pixel units) for a file without a config; a
            pretraining checkpoint's own INPUT.MEAN / STD win.
        name: labels figures and tables.
        space: "embedding", "penultimate" or "auto" (the embedding where the file has the head, else
            the penultimate features).
        layer: where an AlexNet is read ("conv5" or "fc7"; the head reads fc7, so conv5 has none).
        size: input side in pixels; 0: the checkpoint's INPUT.SIZE, else 224.

    Raises:
        ValueError: "random" without ``random``; ``space`` "embedding" for weights without a head;
            a file that is not one of the three kinds (see :func:`read_model`).
    """
    if weights == "random":
        if random is None:
            raise ValueError(
                "random weights need a backbone to build: pass random=BackboneSpec(...) (a probe's MODEL.BACKBONE)"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone, head, trained = build_backbone(random), None, None
        # float/bool: the same text as the config values it was spelled with (a width of 1 reads "1.0").
        fingerprint = f"random:{random.name}:{float(random.width)}:{bool(random.cifar_stem)}:{seed}"
    else:
        backbone, head, trained = read_model(weights)
        fingerprint = f"sha1:{file_digest(weights)}"
    read = at_layer(backbone, layer)
    if read is not backbone:
        head, fingerprint = None, f"{fingerprint}:{layer}"
    if space == "auto":
        space = "embedding" if head is not None else "penultimate"
    if space == "embedding" and head is None:
        raise ValueError(
            f"{weights!r} has no embedding head (only a dilo pretraining checkpoint has one, read at fc7): "
            "use the penultimate space"
        )
    if trained is not None:
        mean, std = trained.INPUT.MEAN, trained.INPUT.STD
    size = size or (trained.INPUT.SIZE if trained is not None else DEFAULT_SIZE)
    return FrozenModel(read, head, name=name, fingerprint=fingerprint, space=space, size=size, mean=mean, std=std)
