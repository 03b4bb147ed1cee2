"""A training set's masks packed in one memory-mapped file (COPY_PASTE.MASK_PACK): a mask read is a slice.

Read from its own file, a pasted sample's mask costs an open, a read and a PNG parse, and on a network
file system far more. Packed, it is a view into pages that the kernel shares between the workers, with
no file opened per sample.

A pack is a cache of the mask files, which stay the source of truth. It lives in a sub-folder of
COPY_PASTE.MASK_PACK named after its fingerprint (the pack format and the mask files' paths, sizes and
modification times, :func:`fingerprint`), so runs over other masks build and read their own packs side
by side and never each other's. In it: ``pixels.u8``, every mask's pixels as stored (a bounded mask
stays bounded, see :mod:`.masks`) in the data set's order; ``index.npy``, each mask's (offset, height,
width, largest value) (height 0: no mask; the largest value tells the fast path whether a mask has
foreground without reading its pixels); and ``provenance.json``, the fingerprint. A build writes a
temporary folder and renames it into place when whole, so an interrupted or failed build (a full disk)
leaves no pack behind and takes no other pack away. Every process that maps a pack, each DataLoader
worker included, checks its record against the fingerprint its run computed and its index against the
number of masks before reading a mask. ImageNet's 1.28 M masks bounded to 128 px: about 15 GB, as their
uncompressed PNG files.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from pretrain.utils import provenance
from pretrain.utils.atomic import TMP_PREFIX, atomic_open

PIXELS, INDEX = "pixels.u8", "index.npy"
FORMAT = 3  # 3: one sub-folder per fingerprint; 2: the index holds each mask's largest value
KIND = "mask pack"

logger = logging.getLogger("pretrain")


def fingerprint(root: str, paths: Sequence[str], present: Sequence[bool]) -> str:
    """SHA-256 of the pack's format and the masks' paths (relative to ``root``), sizes and modification times;
    absent ones as such."""
    digest = hashlib.sha256(f"dilo mask pack {FORMAT}\n".encode())
    for path, ok in zip(paths, present, strict=True):
        stat = os.stat(path) if ok else None
        stamp = f"{stat.st_size} {stat.st_mtime_ns}" if stat else "-"
        digest.update(f"{os.path.relpath(path, root)}\0{stamp}\n".encode())
    return digest.hexdigest()


def pack_folder(root: str, stamp: str) -> str:
    """Where the pack of fingerprint ``stamp`` lives under COPY_PASTE.MASK_PACK ``root``."""
    return os.path.join(os.path.expanduser(root), stamp[:16])


def _record(stamp: str, count: int) -> provenance.Record:
    return provenance.Record.of(KIND, {"format": FORMAT, "masks": stamp, "count": count})


def build_pack(
    folder: str, read: Callable[[int], np.ndarray | None], count: int, stamp: str, progress: bool = True
) -> int:
    """Pack masks ``read(0..count-1)`` (None: no mask) into ``folder`` under fingerprint ``stamp``; returns bytes.

    Written into a temporary folder beside ``folder`` and renamed into place once whole; if another process
    finished the same pack first, its pack is kept and this one dropped.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}pack-", dir=parent)
    try:
        index = np.zeros((count, 4), np.int64)
        offset, tic = 0, time.perf_counter()
        with atomic_open(os.path.join(tmp, PIXELS)) as f:
            for i in tqdm(range(count), desc="mask pack", unit="mask", disable=not progress):
                mask = read(i)
                if mask is not None:
                    f.write(np.ascontiguousarray(mask, np.uint8).tobytes())
                    index[i] = offset, *mask.shape, mask.max(initial=0)
                    offset += mask.size
        with atomic_open(os.path.join(tmp, INDEX)) as f:
            np.save(f, index)
        provenance.write(tmp, _record(stamp, count))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process renamed the same pack into place first
            if not os.path.isdir(folder):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        "mask pack %s: %d masks, %.1f MB, built in %.1f s", folder, count, offset / 1e6, time.perf_counter() - tic
    )
    return offset


class MaskPack:
    """The masks of a built pack, mapped and checked on first use in each process (a pickled pack carries its
    folder, fingerprint and mask count only)."""

    def __init__(self, folder: str, stamp: str, count: int):
        self.folder, self.stamp, self.count = folder, stamp, count
        self._index: np.ndarray | None = None
        self._pixels: np.ndarray | None = None

    def mask(self, i: int) -> np.ndarray | None:
        """Mask ``i`` as stored (a read-only view), or None where the pack holds none."""
        offset, h, w, _ = self._row(i)
        return self._pixels[offset : offset + h * w].reshape(h, w) if h else None

    def peak(self, i: int) -> int:
        """Mask ``i``'s largest value, from the index (0 where the pack holds no mask)."""
        return self._row(i)[3]

    def _row(self, i: int) -> list[int]:
        """Mask ``i``'s (offset, height, width, largest value), the pack mapped on first use."""
        if self._index is None:
            self.open()
        return self._index[i].tolist()

    def open(self) -> None:
        """Map the pixels and load the index, after checking that the pack is the one its run expects (its record
        holds the fingerprint and mask count) and whole (an index row per mask, every mask inside the file)."""
        fix = f"delete {self.folder} and the run rebuilds it"
        provenance.check(self._recorded(), _record(self.stamp, self.count), self.folder, fix)
        try:
            index = np.load(os.path.join(self.folder, INDEX))
            pixels = _map(os.path.join(self.folder, PIXELS))
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"mask pack {self.folder!r} is damaged ({e}): {fix}") from e
        if index.shape != (self.count, 4):
            raise ValueError(f"mask pack {self.folder!r} indexes {index.shape} masks, not ({self.count}, 4): {fix}")
        if self.count and int((index[:, 0] + index[:, 1] * index[:, 2]).max()) > len(pixels):
            raise ValueError(f"mask pack {self.folder!r} is shorter than its index: {fix}")
        self._index, self._pixels = index, pixels

    def _recorded(self) -> provenance.Record:
        recorded = provenance.read(self.folder)
        if recorded is None:
            raise provenance.ProvenanceError(f"mask pack {self.folder!r} has no record: delete it to rebuild it")
        return recorded

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "stamp": self.stamp, "count": self.count, "_index": None, "_pixels": None}


def _map(path: str) -> np.ndarray:
    """The file's bytes as a read-only uint8 array over a shared mapping (a plain array: slicing it costs
    less than slicing an np.memmap)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return np.zeros(0, np.uint8)
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
