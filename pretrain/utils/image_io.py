"""Reading images and listing image trees (no torch: saliency workers import this)."""

from __future__ import annotations

import os

from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class BadImageError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def load_rgb(path: str) -> Image.Image:
    """Decode an image as RGB (grayscale and palette images included), or raise BadImageError."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image {path!r}: {e}") from e


def list_images(root: str) -> list[str]:
    """Relative paths of every image below ``root``, sorted (the same order on every machine)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        found += [os.path.normpath(os.path.join(rel, f)) for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def mask_path(mask_root: str, relpath: str) -> str:
    """Where the mask of image ``relpath`` lives: the same relative path, as a PNG."""
    return os.path.join(mask_root, os.path.splitext(relpath)[0] + ".png")
