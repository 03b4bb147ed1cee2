"""dilo pretraining: saliency -> copy-paste -> instance discrimination with a memory bank."""

__version__ = "0.1.0"
