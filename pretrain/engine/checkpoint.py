"""Atomic checkpoints and the random-number-generator state they carry."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from pretrain.utils.torch_file import load_torch_file

LAST = "checkpoint_last.pth"
FINAL = "model_final.pth"  # the last epoch's checkpoint, kept


def load_checkpoint(path: str, what: str = "pretraining checkpoint") -> dict[str, Any]:
    """Load on the CPU; a missing, truncated or foreign file is an error naming it and ``what`` it should be.

    Pretraining and linear-probe checkpoints share this layout: "model" and "optimizer" state,
    "epoch", "config", each written atomically by rank 0 after an epoch.
    """
    ckpt = load_torch_file(path, what)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{what} {path!r} is not a dilo {what} (no 'model' entry)")
    return ckpt


def last_checkpoint(output_dir: str) -> str | None:
    path = os.path.join(output_dir, LAST)
    return path if os.path.isfile(path) else None


def rng_state() -> dict[str, Any]:
    """This process's global generators (Python, NumPy, torch CPU and CUDA), as tensors and plain types.

    NumPy's key array becomes a list of ints, so the checkpoint loads with ``weights_only=True``.
    """
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (kind, key.tolist(), pos, has_gauss, gauss)
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
