"""Saliency estimation (RBD, GS, MC, BASNet), batch mask writing and benchmark metrics.

Importing the package registers the built-in methods in ``SALIENCY_REGISTRY``. BASNet's module, which
needs torch, is imported only when a BASNet is built: the classic methods' mask workers then start
without torch, a few hundred MB less each.
"""

from typing import Any

from . import gs, mc, rbd  # noqa: F401  (registration)
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


@SALIENCY_REGISTRY.register()
def BASNet(**kwargs: Any) -> SaliencyMethod:  # the registry names a method after its builder
    """:class:`pretrain.saliency.basnet.BASNet` with ``kwargs`` (``weights=``, ``device=``...)."""
    from . import basnet

    return basnet.BASNet(**kwargs)
