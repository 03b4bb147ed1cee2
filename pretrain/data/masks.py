"""Saliency masks of a training set, in a folder that mirrors the image tree.

``tools/saliency.py`` writes ``<mask_root>/<relative path without extension>.png``; true
masks laid out the same way work too. Every image's mask is looked up when the dataset is
built, so a missing one is reported before training starts, not hours into it.
"""

from __future__ import annotations

import os

from PIL import Image

from pretrain.utils.image_io import BadImageError, mask_path

SHOWN = 5  # missing masks named in the error


class MaskFolder:
    """The masks of images ``relpaths``; with ``allow_missing`` an absent mask means "no copy-paste"."""

    def __init__(self, mask_root: str, relpaths: list[str], allow_missing: bool = False):
        root = os.path.expanduser(mask_root)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"mask folder {mask_root!r} does not exist (COPY_PASTE.MASK_ROOT)")
        self.paths = [mask_path(root, rel) for rel in relpaths]
        self.present = [os.path.isfile(p) for p in self.paths]
        missing = [p for p, ok in zip(self.paths, self.present, strict=True) if not ok]
        if missing and not allow_missing:
            shown = "\n  ".join(missing[:SHOWN])
            raise FileNotFoundError(
                f"{len(missing)} of {len(self.paths)} images have no mask in {mask_root!r}, e.g.:\n  {shown}\n"
                "compute them with tools/saliency.py, or set COPY_PASTE.MISSING_MASKS skip to train those "
                "images without copy-paste"
            )
        self.num_missing = len(missing)

    def load(self, index: int, size: tuple[int, int] | None = None) -> Image.Image | None:
        """The 8-bit mask of image ``index`` (None if absent); with ``size``, it must be the image's (w, h)."""
        return load_mask(self.paths[index], size) if self.present[index] else None


def load_mask(path: str, size: tuple[int, int] | None = None) -> Image.Image:
    """An 8-bit mask; with ``size`` it must be its image's (w, h). Errors name the file."""
    try:
        with Image.open(path) as m:
            mask = m.convert("L")
    except (OSError, ValueError) as e:
        raise BadImageError(f"cannot read mask {path!r}: {e}") from e
    if size is not None and mask.size != size:
        raise ValueError(f"mask {path!r} is {mask.size[0]}x{mask.size[1]}, its image {size[0]}x{size[1]}")
    return mask
