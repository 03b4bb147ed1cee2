"""Saliency estimation (RBD, GS, MC, BASNet), batch mask writing and benchmark metrics.

Importing the package registers the built-in methods in ``SALIENCY_REGISTRY``.
"""

from . import basnet, gs, mc, rbd  # noqa: F401  (registration)
from .registry import (
    SALIENCY_REGISTRY,
    SMALL_IMAGE_SALIENCY,
    SaliencyMethod,
    build_saliency,
    check_image,
    saliency_methods,
    small_image_options,
)

__all__ = [
    "SALIENCY_REGISTRY",
    "SMALL_IMAGE_SALIENCY",
    "SaliencyMethod",
    "build_saliency",
    "check_image",
    "saliency_methods",
    "small_image_options",
]
