"""The saliency-method registry: where RBD, GS, MC, BASNet and users' own methods plug in."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from fvcore.common.registry import Registry


class SaliencyMethod(Protocol):
    """Maps an H x W x 3 uint8 RGB image to an H x W float32 saliency map in [0, 1].

    A method may also have ``parameters()``: a JSON-able dict of every setting its maps depend on, as the
    instance resolved them (the built-in ones do). A mask folder records it (:mod:`pretrain.saliency.batch`);
    for a method without it, the folder records the keyword options it was built with.
    """

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


SALIENCY_REGISTRY = Registry("SALIENCY")
SALIENCY_REGISTRY.__doc__ = """Saliency methods, registered by class name (RBD, GS, MC, BASNet).

A registered object is a class whose instances are :class:`SaliencyMethod` callables; its
constructor takes keyword options (BASNet: ``weights=``, ``device=``). Names are looked up
case-insensitively, so ``--method rbd`` finds ``RBD``.
"""


# The authors' settings assume ~400 x 300 photos (600 px per superpixel, an 8 px boundary band):
# on 64 px images that leaves 7 superpixels. For small images (the embedded set, Caltech-20 at
# 64 px) keep their superpixel count and band proportions instead.
SMALL_IMAGE_SALIENCY: dict[str, dict[str, Any]] = {
    "rbd": {"pixels_per_superpixel": 40, "boundary_width": 2},
    "gs": {"pixels_per_superpixel": 40, "boundary_width": 2},
}


def small_image_options(name: str) -> dict[str, Any]:
    """Method ``name``'s options for ~64 px images (none where its defaults suit them)."""
    return dict(SMALL_IMAGE_SALIENCY.get(name.lower(), {}))


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
