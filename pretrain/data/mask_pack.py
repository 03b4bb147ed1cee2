"""A training set's masks packed in one memory-mapped file (COPY_PASTE.MASK_PACK): a mask read is a slice.

Read from its own file, a pasted sample's mask costs an open, a read and a PNG parse: about a
sixth of a millisecond per pasted sample on one core in the fast path's worker half, 2 % of its
throughput at p 0.5, and on a network file system far more. Packed, it is a view into pages that
the kernel shares between the workers, with no file opened per sample.

The pack is a cache of the mask files, which stay the source of truth: ``pixels.u8`` holds every
mask's pixels as stored (a bounded mask stays bounded, see :mod:`.masks`) in the data set's order,
``index.npy`` each mask's (offset, height, width, largest value) (height 0: no mask; the largest
value tells the fast path whether a mask has foreground without reading its pixels), and
``stamp.json`` a fingerprint of the pack's format and the mask files' paths, sizes and modification
times. A pack whose stamp does not
match the files is rebuilt (by rank 0) or not used; the stamp is written last and removed first, so
an interrupted build is never taken for a whole one. ImageNet's 1.28 M masks bounded to 128 px:
about 15 GB, as their uncompressed PNG files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from pretrain.utils.atomic import atomic_open, write_json

PIXELS, INDEX, STAMP = "pixels.u8", "index.npy", "stamp.json"
FORMAT = 2  # 2: the index holds each mask's largest value; a pack of another format is rebuilt

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


def stamp_of(folder: str) -> str | None:
    """The fingerprint a whole pack in ``folder`` was built from, or None (no pack, or an unfinished one)."""
    try:
        with open(os.path.join(folder, STAMP)) as f:
            return json.load(f)["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_pack(
    folder: str, read: Callable[[int], np.ndarray | None], count: int, stamp: str, progress: bool = True
) -> int:
    """Pack masks ``read(0..count-1)`` (None: no mask) into ``folder`` under fingerprint ``stamp``; returns bytes."""
    os.makedirs(folder, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(folder, STAMP))  # from here on the folder holds no whole pack
    index = np.zeros((count, 4), np.int64)
    offset, tic = 0, time.perf_counter()
    with atomic_open(os.path.join(folder, PIXELS)) as f:
        for i in tqdm(range(count), desc="mask pack", unit="mask", disable=not progress):
            mask = read(i)
            if mask is not None:
                f.write(np.ascontiguousarray(mask, np.uint8).tobytes())
                index[i] = offset, *mask.shape, mask.max(initial=0)
                offset += mask.size
    with atomic_open(os.path.join(folder, INDEX)) as f:
        np.save(f, index)
    write_json(os.path.join(folder, STAMP), {"fingerprint": stamp, "masks": count, "bytes": offset})
    logger.info(
        "mask pack %s: %d masks, %.1f MB, built in %.1f s", folder, count, offset / 1e6, time.perf_counter() - tic
    )
    return offset


class MaskPack:
    """The masks of a built pack, mapped on first use in each process (a pickled pack carries its folder only)."""

    def __init__(self, folder: str):
        self.folder = folder
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
            self._open()
        return self._index[i].tolist()

    def _open(self) -> None:
        """Map the pixels and load the index, checked once: every mask must lie within the file."""
        index = np.load(os.path.join(self.folder, INDEX))
        pixels = _map(os.path.join(self.folder, PIXELS))
        if index.ndim != 2 or index.shape[1] != 4:
            raise ValueError(f"mask pack {self.folder!r} has an index of shape {index.shape}: delete it to rebuild it")
        if len(index) and int((index[:, 0] + index[:, 1] * index[:, 2]).max()) > len(pixels):
            raise ValueError(f"mask pack {self.folder!r} is shorter than its index: delete it to rebuild it")
        self._index, self._pixels = index, pixels

    def __getstate__(self) -> dict:
        return {"folder": self.folder, "_index": None, "_pixels": None}


def _map(path: str) -> np.ndarray:
    """The file's bytes as a read-only uint8 array over a shared mapping (a plain array: slicing it costs
    less than slicing an np.memmap)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return np.zeros(0, np.uint8)
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
