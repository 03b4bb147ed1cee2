"""Running dilo's tools on clusters: SLURM through submitit (``pip install -e '.[cluster]'``).

:mod:`.jobs` describes a job with plain values; :mod:`.slurm` (which imports submitit) submits it.
"""

from .jobs import TOOLS, Resources, Tool, tool_argv

__all__ = ["TOOLS", "Resources", "Tool", "tool_argv"]
