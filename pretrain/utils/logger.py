"""Logging to the console and ``<output_dir>/log.txt``; other ranks only warn."""

from __future__ import annotations

import logging
import os
import sys


def setup_logger(output_dir: str, rank: int = 0, name: str = "pretrain") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    logger.handlers.clear()
    fmt = logging.Formatter(f"[%(asctime)s r{rank}] %(message)s", datefmt="%H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if rank == 0 and output_dir:
        os.makedirs(output_dir, exist_ok=True)
        file = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        file.setFormatter(fmt)
        logger.addHandler(file)
    return logger
