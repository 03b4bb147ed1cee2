"""Configuration: fvcore CfgNode defaults, YAML files with ``_BASE_``, ``KEY VALUE`` overrides."""

from .config import get_cfg, load_config

__all__ = ["get_cfg", "load_config"]
