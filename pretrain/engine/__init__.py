"""The training engine: run setup, trainer, solver, checkpoints, metrics and evaluation hooks."""

from .checkpoint import last_checkpoint, load_checkpoint
from .prepare import prepare_embedded
from .trainer import Trainer

__all__ = ["Trainer", "last_checkpoint", "load_checkpoint", "prepare_embedded"]
