"""Reading images and listing image trees (no torch: saliency workers import this)."""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RAW_GRAY_IHDR = bytes((8, 0, 0, 0, 0))  # 8 bits, gray, deflate, row filters of method 0, no interlace
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


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_raw_gray_png(mask: np.ndarray) -> bytes:
    """An 8-bit gray (h, w) array as a PNG stored uncompressed and unfiltered (every row's filter byte 0):
    any PNG reader takes it, and :func:`decode_raw_gray_png` reads it back without a PNG decoder."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    h, w = mask.shape
    rows = np.zeros((h, w + 1), np.uint8)
    rows[:, 1:] = mask
    header = struct.pack(">II", w, h) + RAW_GRAY_IHDR
    idat = zlib.compress(rows.tobytes(), 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def decode_raw_gray_png(data: bytes) -> np.ndarray | None:
    """The (h, w) pixels of an 8-bit gray PNG whose rows are all unfiltered (as :func:`encode_raw_gray_png`
    writes them), read as its inflated rows less their filter bytes, a quarter of a PNG
    decoder's time for a 128 px mask; None for any other PNG, or one whose data does not inflate to its
    rows (zlib checks its checksum), so a PNG decoder takes it and names what is wrong."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or data[24:29] != RAW_GRAY_IHDR:
        return None
    w, h = struct.unpack(">II", data[16:24])
    parts, pos = [], 8
    while pos + 8 <= len(data) and data[pos + 4 : pos + 8] != b"IEND":
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            parts.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    try:
        rows = zlib.decompress(b"".join(parts))
    except zlib.error:
        return None
    if len(rows) != h * (w + 1):
        return None
    pixels = np.frombuffer(rows, np.uint8).reshape(h, w + 1)
    return None if pixels[:, 0].any() else pixels[:, 1:].copy()  # writable, as a decoder's
