"""The paper's Table 2 ablations at small scale: settings, runs over seeds, tables beside the paper's."""

from .runner import Run, available_settings, plan_runs, read_result, reproduce
from .settings import PRESETS, SETTINGS, TABLE2, Column, Panel, Preset, table_settings
from .tables import aggregate, format_panel, format_tables, mean_std

__all__ = [
    "PRESETS",
    "SETTINGS",
    "TABLE2",
    "Column",
    "Panel",
    "Preset",
    "Run",
    "aggregate",
    "available_settings",
    "format_panel",
    "format_tables",
    "mean_std",
    "plan_runs",
    "read_result",
    "reproduce",
    "table_settings",
]
