"""Metrics as JSON lines (always) and TensorBoard scalars (when tensorboard is installed)."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

logger = logging.getLogger(__name__)


class MetricsWriter:
    """Writes one JSON object per record to ``<output_dir>/metrics.jsonl``.

    Only the main process should create one. ``append`` keeps the history of a resumed run; a run that
    starts anew starts the file anew, so two runs' records never mix in it.
    """

    def __init__(self, output_dir: str, append: bool = True):
        os.makedirs(output_dir, exist_ok=True)
        self.path = os.path.join(output_dir, "metrics.jsonl")
        self._file = open(self.path, "a" if append else "w", buffering=1)  # noqa: SIM115 (held open for the run)
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.path.join(output_dir, "tb"))
        except ImportError:
            logger.debug("tensorboard is not installed; metrics go to %s only", self.path)

    def write(self, step: int, **scalars: Any) -> None:
        self._file.write(json.dumps({"step": step, "time": round(time.time(), 3), **scalars}) + "\n")
        if self._tb is not None:
            for key, value in scalars.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "iter"):
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
