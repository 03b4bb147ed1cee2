"""Atomic file writes: a reader, or a job killed mid-write, never sees a partial file."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

TMP_PREFIX = ".tmp-"
_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"[a-z0-9_]{8}")  # what mkstemp makes of the prefix
_STARTED = time.time()  # this process's start, as far as its writes go: before any atomic_open


@contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``path`` only if the block completes.

    Writes go to a temporary file in the same folder, which is fsynced and renamed over
    ``path``; on any error the temporary file is removed and ``path`` is left as it was.
    The file gets the permissions ``open`` would give it (mkstemp's are owner-only). An OSError
    of the write (no space, no permission) names ``path``, the file the user knows, not the
    temporary.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp, folder):
            raise type(e)(e.errno, f"{e.strerror or e} (the previous file, if any, is intact)", path) from e
        raise


def remove_stale_temporaries(root: str) -> list[str]:
    """Delete the temporary files that killed writers left below ``root``; returns their paths.

    Only files named as :func:`atomic_open` names them and last modified before this process
    started are taken: a temporary of a writer that is alive now is younger (every write
    touches it), and nobody else's files match.
    """
    removed = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if _TMP_NAME.fullmatch(name) and _mtime(path) < _STARTED:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                removed.append(path)
    if removed:
        logging.getLogger("pretrain").info("removed %d temporary files of killed writes in %s", len(removed), root)
    return removed


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:  # its writer finished (renamed it) or cleaned up meanwhile
        return _STARTED


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def write_json(path: str, obj: Any, indent: int = 2) -> None:
    """``obj`` as JSON at ``path``, atomically: results files are read by other jobs and tools."""
    with atomic_open(path) as f:
        f.write((json.dumps(obj, indent=indent, default=float) + "\n").encode())


def read_json(path: str, what: str = "JSON file") -> Any:
    """The JSON object at ``path``; a missing, unreadable or malformed file is an error naming it as ``what``."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path!r} is not readable JSON ({e}): it was cut short or damaged; delete it") from e
