"""Atomic file writes: a reader, or a job killed mid-write, never sees a partial file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO


@contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``path`` only if the block completes.

    Writes go to a temporary file in the same folder, which is fsynced and renamed over
    ``path``; on any error the temporary file is removed and ``path`` is left as it was.
    The file gets the permissions ``open`` would give it (mkstemp's are owner-only).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def write_json(path: str, obj: Any, indent: int = 2) -> None:
    """``obj`` as JSON at ``path``, atomically: results files are read by other jobs and tools."""
    with atomic_open(path) as f:
        f.write((json.dumps(obj, indent=indent, default=float) + "\n").encode())
