"""Reading images and listing image trees (no torch: saliency workers import this)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class BadImageError(OSError):
    """An image file that cannot be decoded; the message names the file."""


def load_rgb(path: str) -> Image.Image:
    """Decode an image as 8-bit RGB (grayscale, palette, 16-bit and float images included), or raise BadImageError."""
    try:
        with Image.open(path) as img:
            return to_8bit(img).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image {path!r}: {e}") from e


def to_8bit(img: Image.Image) -> Image.Image:
    """Integer and float grayscale (modes I;16*, I, F) scaled to 8 bits by their range.

    PIL's own ``convert`` clips them at 255, so a 16-bit photo would come out almost white.
    Integers are taken as 16-bit (PIL's mode I also holds 16-bit PNGs and TIFFs; 32-bit integer
    photos do not occur in practice), floats as [0, 1] if they stay within it, else as
    [0, 255]. 16-bit RGB PNGs already decode to 8-bit RGB in PIL.
    """
    if not (img.mode.startswith("I") or img.mode == "F"):
        return img
    values = np.asarray(img, dtype=np.float64)
    unit_floats = img.mode == "F" and values.size and np.nanmax(values) <= 1
    scale = 255.0 if unit_floats else 1.0 if img.mode == "F" else 255.0 / 65535
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), "L")


def list_images(root: str) -> list[str]:
    """Relative paths of every image below ``root``, sorted (the same order on every machine).

    Hidden files and folders (names starting with ".", such as ``.ipynb_checkpoints``) are skipped.
    Symbolic links are followed, but no real folder is listed twice: a link loop or a second link to a
    folder already listed adds nothing (the first path in sorted walking order keeps its images).
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        found += [
            os.path.normpath(os.path.join(rel, f))
            for f in filenames
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found)


def mask_paths(mask_root: str, relpaths: Sequence[str]) -> list[str]:
    """Where the mask of each image of a listing lives: its relative path as a PNG (``a/x.jpg`` ->
    ``a/x.png``), except where images of one folder share a stem (``x.jpg`` and ``x.png``): those keep
    their extension (``x.jpg.png``, ``x.png.png``), so every image has a mask of its own. The rule reads
    the whole listing, so writers and readers of a mask folder must pass the same one (a folder's images).
    A listing whose mask names still collide is an error naming them."""
    stems = [os.path.splitext(rel)[0] for rel in relpaths]
    shared = {stem for stem, n in Counter(stems).items() if n > 1}
    names = [(rel if stem in shared else stem) + ".png" for rel, stem in zip(relpaths, stems, strict=True)]
    clashes = sorted(name for name, n in Counter(names).items() if n > 1)
    if clashes:
        raise ValueError(f"images would share the masks {clashes[:5]} under {mask_root!r}: rename them")
    return [os.path.join(mask_root, name) for name in names]


def bounded_size(size: tuple[int, int], bound: int) -> tuple[int, int]:
    """(w, h) ``size`` scaled so that its longer side is at most ``bound`` (0: no bound), aspect kept.

    How ``tools/saliency.py --mask-size`` stores masks, and how a stored mask's size is checked.
    """
    longest = max(size)
    if not bound or longest <= bound:
        return size
    return tuple(max(1, round(side * bound / longest)) for side in size)  # type: ignore[return-value]
