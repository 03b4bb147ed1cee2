"""MoCo v2 (Chen et al. 2020): a momentum key encoder, a queue of past keys, shuffled batch norm."""

from .momentum_contrast import MomentumContrast
from .queue import KeyQueue
from .shuffle_bn import grouped_forward, shuffled_keys

__all__ = ["KeyQueue", "MomentumContrast", "grouped_forward", "shuffled_keys"]
