"""The saliency-method registry: where RBD, GS, MC, BASNet and users' own methods plug in."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from fvcore.common.registry import Registry


class SaliencyMethod(Protocol):
    """Maps an H x W x 3 uint8 RGB image to an H x W float32 saliency map in [0, 1]."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


SALIENCY_REGISTRY = Registry("SALIENCY")
SALIENCY_REGISTRY.__doc__ = """Saliency methods, registered by class name (RBD, GS, MC, BASNet).

A registered object is a class whose instances are :class:`SaliencyMethod` callables; its
constructor takes keyword options (BASNet: ``weights=``, ``device=``). Names are looked up
case-insensitively, so ``--method rbd`` finds ``RBD``.
"""


def saliency_methods() -> list[str]:
    return sorted(name.lower() for name, _ in SALIENCY_REGISTRY)


def build_saliency(name: str, **kwargs: Any) -> SaliencyMethod:
    by_name = {key.lower(): cls for key, cls in SALIENCY_REGISTRY}
    if name.lower() not in by_name:
        raise KeyError(f"unknown saliency method {name!r}; known: {saliency_methods()}")
    return by_name[name.lower()](**kwargs)


def check_image(image: np.ndarray) -> np.ndarray:
    """The input contract of every method: H x W x 3 uint8 (RGB)."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
        desc = f"{type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}"
        raise ValueError(f"saliency expects an H x W x 3 uint8 RGB image, got {desc}")
    return image
