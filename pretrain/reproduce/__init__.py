"""The paper's Table 2 ablations at small scale: settings, runs over seeds, tables beside the paper's."""

from .caltech20 import PreparedSet, prepare_caltech20
from .runner import Reproduction, Run, available_settings, plan_runs, read_result, reproduce
from .settings import (
    DATASETS,
    PRESETS,
    SETTINGS,
    TABLE2,
    Column,
    Panel,
    Preset,
    epoch_opts,
    preset_opts,
    select_panels,
    setting_masks,
    table_settings,
)
from .tables import aggregate, format_panel, format_tables

__all__ = [
    "DATASETS",
    "PRESETS",
    "SETTINGS",
    "TABLE2",
    "Column",
    "Panel",
    "PreparedSet",
    "Preset",
    "Reproduction",
    "Run",
    "aggregate",
    "available_settings",
    "epoch_opts",
    "format_panel",
    "format_tables",
    "plan_runs",
    "prepare_caltech20",
    "preset_opts",
    "read_result",
    "reproduce",
    "select_panels",
    "setting_masks",
    "table_settings",
]
