"""The training engine: trainer, solver, checkpoints, metrics and evaluation hooks."""

from .checkpoint import last_checkpoint, load_checkpoint, save_atomic
from .trainer import Trainer

__all__ = ["Trainer", "last_checkpoint", "load_checkpoint", "save_atomic"]
