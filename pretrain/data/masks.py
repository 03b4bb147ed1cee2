"""Saliency masks of a training set, in a folder that mirrors the image tree.

``tools/saliency.py`` writes ``<mask_root>/<relative path without extension>.png`` (two images of
one folder that share a stem keep their extension: :func:`pretrain.utils.image_io.mask_paths`); true
masks laid out the same way work too. Every image's mask is looked up when the dataset is
built, and :meth:`MaskFolder.check` reads each mask's header and its image's, so a missing,
truncated or mis-sized mask is reported before training starts, not hours into it.

A mask is its image's size, or that size scaled down to a bound on the longer side
(:func:`bounded_size`, ``tools/saliency.py --mask-size``: cheaper to decode). Either way it is
the image's mask: :func:`load_mask` scales a stored one back to its image's size, so every
consumer sees full-size masks.

With COPY_PASTE.MASK_PACK the masks are read from one memory-mapped file (:mod:`.mask_pack`), a
cache of the files built when they change.
"""

from __future__ import annotations

import functools
import glob
import io
import logging
import os
import struct
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from pretrain.utils import provenance
from pretrain.utils.atomic import TMP_PREFIX
from pretrain.utils.image_io import PNG_SIGNATURE, BadImageError, bounded_size, mask_paths

from .mask_pack import MaskPack, build_pack, fingerprint, pack_folder

SHOWN = 5  # bad masks named in an error
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last 12 bytes of every whole PNG

logger = logging.getLogger("pretrain")


def _listing(items: list[str], what: str, remedy: str) -> str:
    """ "N <what>, e.g.: <the first few>" and the two ways out (new masks, or training those images as they are)."""
    shown = "\n  ".join(items[:SHOWN])
    return (
        f"{len(items)} {what}, e.g.:\n  {shown}\n{remedy} with tools/saliency.py, or set "
        "COPY_PASTE.MISSING_MASKS skip to train those images without copy-paste"
    )


class MaskFolder:
    """The masks of images ``relpaths``; with ``allow_missing`` an absent mask means "no copy-paste"."""

    def __init__(self, mask_root: str, relpaths: list[str], allow_missing: bool = False):
        root = os.path.expanduser(mask_root)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"mask folder {mask_root!r} does not exist (COPY_PASTE.MASK_ROOT)")
        self.root, self.relpaths = mask_root, relpaths
        self.paths = mask_paths(root, relpaths)  # relpaths: the whole listing, so stem-sharing images get their own
        self.present = [os.path.isfile(p) for p in self.paths]
        missing = [p for p, ok in zip(self.paths, self.present, strict=True) if not ok]
        if missing and not allow_missing:
            raise FileNotFoundError(
                _listing(missing, f"of {len(self.paths)} images have no mask in {mask_root!r}", "compute them")
            )
        self.num_missing = len(missing)
        self.skip_bad = False  # an unreadable mask stops the run (see check)
        self.image_root: str | None = None  # set by check: the images' sizes, for loads without a size
        self.pack: MaskPack | None = None  # set by use_pack: the masks read from one mapped file
        # What a run records of its masks (pretrain.engine.provenance): the folder's own record, if it has one
        # (the saliency tool's: method, parameters, size bound), and which images have a mask.
        record = provenance.read(root)
        found = (rel for rel, ok in zip(relpaths, self.present, strict=True) if ok)
        self.identity = provenance.digest([record.digest() if record else "no record", *found])

    def check(self, image_root: str, skip_bad: bool = False) -> list[str]:
        """Compare every present mask's header with its image's; returns the problems found.

        Headers only (a PNG's first 24 and last 12 bytes, the image's header through PIL), so
        ImageNet's 1.28M masks take minutes, not the hours of decoding them. A mask that is
        not a whole PNG (truncated, empty, another format) or not its image's size stops the
        run, all of them named at once; with ``skip_bad`` (COPY_PASTE.MISSING_MASKS skip or
        DATA.SKIP_BAD_IMAGES) such masks count as missing, and so does one that fails to
        decode later.
        """
        problems, bad = [], []
        for i in (i for i, ok in enumerate(self.present) if ok):
            problem = _mask_problem(self.paths[i], os.path.join(image_root, self.relpaths[i]))
            if problem:
                problems.append(f"{self.paths[i]}: {problem}")
                bad.append(i)
        if problems and not skip_bad:
            raise ValueError(
                _listing(
                    problems,
                    f"of {len(self.paths)} masks in {self.root!r} do not fit their images",
                    "delete and recompute them",
                )
            )
        for i in bad:
            self.present[i] = False
        self.num_missing += len(bad)
        self.skip_bad = skip_bad
        self.image_root = image_root
        if problems:
            logger.warning("%d masks do not fit their images and count as missing, e.g. %s", len(bad), problems[0])
        return problems

    def load(self, index: int, size: tuple[int, int] | None = None, stored: bool = False) -> np.ndarray | None:
        """The 8-bit mask of image ``index`` at its image's (w, h) ``size`` (None if absent, or unreadable
        under ``skip_bad``); without ``size``, the image's header gives it once :meth:`check` has run.
        With ``stored``, a bounded mask comes as stored (copy-paste crops it directly, see
        :func:`pretrain.augment.copy_paste.crop_mask`)."""
        if not self.present[index]:
            return None
        if size is None and self.image_root is not None:
            with Image.open(os.path.join(self.image_root, self.relpaths[index])) as img:
                size = img.size
        path = self.paths[index]
        if self.pack is None:
            return self._or_missing(lambda: load_mask(path, size, stored))
        mask = self.pack.mask(index)  # a damaged pack is no mask's problem: its error stops the run
        return None if mask is None else fit_mask(mask, path, size, stored)

    def peak(self, index: int, mask: np.ndarray) -> int:
        """The largest value of ``mask``, mask ``index`` as loaded: from a pack's index, without a pass over
        pixels that have left the caches since they were mapped, else from the pixels, just decoded."""
        return self.pack.peak(index) if self.pack is not None else int(mask.max())

    def use_pack(self, root: str, build: bool = True) -> bool:
        """Read the masks from their pack under COPY_PASTE.MASK_PACK ``root`` (:mod:`.mask_pack`) from now on,
        building it first (with ``build``) if these mask files have none yet; returns whether the pack is used.
        The pack is checked here, so a damaged one stops the run before training. Call after :meth:`check`:
        a mask that check found bad stays missing."""
        stamp = fingerprint(os.path.expanduser(self.root), self.paths, self.present)
        folder = pack_folder(root, stamp)
        if not os.path.isdir(folder):
            if not build:
                logger.warning("no mask pack of the masks in %s under %s: reading the mask files", self.root, root)
                return False
            leftovers = glob.glob(os.path.join(os.path.expanduser(root), f"{TMP_PREFIX}pack-*"))
            if leftovers:
                logger.warning("temporary mask packs of interrupted builds (or of a build under way): %s", leftovers)
            build_pack(folder, self._read_stored, len(self.paths), stamp)
        self.pack = MaskPack(folder, stamp, len(self.paths))
        self.pack.open()
        return True

    def _read_stored(self, index: int) -> np.ndarray | None:
        """Mask ``index`` as stored from its file (None if absent, or unreadable under ``skip_bad``)."""
        return self._or_missing(lambda: read_mask(self.paths[index])) if self.present[index] else None

    def _or_missing(self, read: Callable[[], np.ndarray | None]) -> np.ndarray | None:
        """``read()``, or None where the mask is unreadable and ``skip_bad`` counts it as missing."""
        try:
            return read()
        except BadImageError:
            if not self.skip_bad:
                raise
            return None


def png_size(path: str) -> tuple[int, int] | None:
    """(w, h) from a PNG's header, or None unless the file starts and ends as a whole PNG does."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
            return None
        f.seek(-len(PNG_END), os.SEEK_END)
        if f.read() != PNG_END:
            return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _mask_problem(mask: str, image: str) -> str | None:
    size = png_size(mask)
    if size is None:
        return "not a whole PNG (truncated or unreadable)"
    try:
        with Image.open(image) as img:
            expected = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # the image's own problem: DATA.SKIP_BAD_IMAGES or the loader reports it
    return size_problem(size, expected)


@functools.lru_cache(maxsize=4096)
def size_problem(stored: tuple[int, int], image: tuple[int, int]) -> str | None:
    """None if a mask of (w, h) ``stored`` fits an image of ``image``: the same size, or the image's size
    bounded to the mask's longer side (:func:`bounded_size`); other sizes are named. Cached: every pasted
    sample asks, and a data set has few distinct sizes."""
    bounded = max(stored) < max(image) and stored == bounded_size(image, max(stored))
    return None if stored == image or bounded else f"{stored[0]}x{stored[1]}, its image {image[0]}x{image[1]}"


def read_mask(path: str) -> np.ndarray:
    """The 8-bit mask as stored: grayscale PNGs of 8 or 1 bits through OpenCV (faster than PIL, the same
    values), anything else through PIL's conversion to L. Errors name the file."""
    try:
        with open(path, "rb", buffering=0) as f:  # one read of the whole file: no buffer in between
            data = f.read()
        head = data[:26]
        if len(head) == 26 and head[:8] == PNG_SIGNATURE and head[25] == 0 and head[24] in (1, 8):
            mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if mask is None:
                raise OSError("not a decodable PNG")
            return mask
        with Image.open(io.BytesIO(data)) as m:
            return np.asarray(m.convert("L"))
    except (OSError, ValueError) as e:
        raise BadImageError(f"cannot read mask {path!r}: {e}") from e


def load_mask(path: str, size: tuple[int, int] | None = None, stored: bool = False) -> np.ndarray:
    """An 8-bit mask; with its image's (w, h) ``size``, at that size: a mask stored smaller (see
    :func:`size_problem`) is scaled up bilinearly (kept as stored with ``stored``), any other size
    is refused. Errors name the file."""
    return fit_mask(read_mask(path), path, size, stored)


def fit_mask(mask: np.ndarray, path: str, size: tuple[int, int] | None, stored: bool) -> np.ndarray:
    """:func:`load_mask` of a mask already read (from ``path``, which errors name)."""
    if size is None:
        return mask
    shape = (mask.shape[1], mask.shape[0])
    problem = size_problem(shape, tuple(size))
    if problem:
        raise ValueError(f"mask {path!r} is {problem}")
    return mask if stored or shape == size else cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
