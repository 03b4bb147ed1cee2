"""Evaluating frozen representations: feature extraction, linear probes (the paper's protocol and fast), kNN."""

from .defaults import get_probe_cfg, load_probe_config
from .features import extract_features
from .knn_eval import run_knn
from .linear import LinearProbe, fit_linear_probe, probe_accuracy
from .protocol import run_linear_probe

__all__ = [
    "LinearProbe",
    "extract_features",
    "fit_linear_probe",
    "get_probe_cfg",
    "load_probe_config",
    "probe_accuracy",
    "run_knn",
    "run_linear_probe",
]
