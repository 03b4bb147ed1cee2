"""Atomic checkpoints and the random-number-generator state they carry."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from pretrain.utils.atomic import atomic_open

LAST = "checkpoint_last.pth"


def save_atomic(obj: Any, path: str) -> None:
    """torch.save that never leaves a truncated checkpoint (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: str) -> dict[str, Any]:
    """Load on the CPU; a missing, truncated or foreign file is an error naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # pickle, zip and EOF errors all mean the same thing to the user
        raise ValueError(f"checkpoint {path!r} is corrupt or not a torch checkpoint: {e}") from e
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"checkpoint {path!r} is not a dilo pretraining checkpoint (no 'model' entry)")
    return ckpt


def last_checkpoint(output_dir: str) -> str | None:
    path = os.path.join(output_dir, LAST)
    return path if os.path.isfile(path) else None


def rng_state() -> dict[str, Any]:
    """This process's global generators (Python, NumPy, torch CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
