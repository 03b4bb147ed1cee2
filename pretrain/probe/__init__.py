"""Evaluating frozen representations: feature extraction and linear probes."""

from .features import extract_features
from .linear import LinearProbe, fit_linear_probe, probe_accuracy

__all__ = ["LinearProbe", "extract_features", "fit_linear_probe", "probe_accuracy"]
