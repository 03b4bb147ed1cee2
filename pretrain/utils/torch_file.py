"""Reading ``.pth`` files without running code from them, and writing them atomically.

Every weights file, checkpoint and probe checkpoint is read here with ``weights_only=True``:
tensors, numbers, strings, containers and numeric NumPy arrays only (older dilo checkpoints
kept NumPy's generator state as an array), so a file someone else made cannot run code when
it is converted, probed or resumed. A file that names any other Python object is refused with
the object named, unless the user trusts it explicitly with the environment variable
:data:`TRUST_ENV`, which every tool honours.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import torch

from .atomic import atomic_open

TRUST_ENV = "DILO_TRUST_PICKLE"
# Rebuilding a numeric array from its bytes runs no code (object arrays would need other globals).
# Registered once for the process (torch 2.4 has no scoped form); ``_reconstruct`` is taken from
# an array's own pickle recipe, which names it on NumPy 1 and 2 alike.
torch.serialization.add_safe_globals(
    [
        np.zeros(1).__reduce__()[0],
        np.ndarray,
        np.dtype,
        *(type(np.dtype(t)) for t in (np.bool_, np.uint8, np.int32, np.int64, np.uint32, np.float32, np.float64)),
    ]
)


def trusted() -> bool:
    return os.environ.get(TRUST_ENV, "") == "1"


def load_torch_file(path: str, what: str = "weights file") -> Any:
    """``torch.load`` on the CPU, tensors and plain types only (unless trusted); errors name ``path``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted())
    except Exception as e:  # zip, pickle and EOF errors: the message says which
        name = re.search(r"GLOBAL (\S+)", str(e))
        if name is None:
            raise ValueError(f"{what} {path!r} is corrupt or not a torch file: {_last_line(e)}") from e
        raise ValueError(
            f"{what} {path!r} holds a pickled Python object ({name.group(1)}), which could run code when loaded; "
            f"dilo loads tensors and plain types only. If you trust this file (e.g. a checkpoint of an older "
            f"dilo), rerun with {TRUST_ENV}=1 in the environment"
        ) from e


def _last_line(e: Exception) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def save_atomic(obj: Any, path: str) -> None:
    """torch.save that never leaves a truncated file (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        torch.save(obj, f)
