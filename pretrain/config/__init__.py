"""Configuration: fvcore CfgNode defaults, YAML files with ``_BASE_``, ``KEY VALUE`` overrides."""

from .config import config_fields, get_cfg, load_config

__all__ = ["config_fields", "get_cfg", "load_config"]
