"""dilo pretraining: saliency -> copy-paste -> instance discrimination with a memory bank (or MoCo v2)."""

__version__ = "0.1.0"
