"""PASCAL VOC splits registered under detectron2's names, from any dataset root.

detectron2 registers the ``voc_*`` names at import time under ``$DETECTRON2_DATASETS``
(default ``./datasets``); ``register_voc(root)`` registers them again under another root, so
``train_net.py --datasets-root`` works without the environment variable. The ``voc_mini_*``
names point at the 100-image VOC2012 copy used for smoke runs (``<root>/voc-mini``).
Parsing and the record format are detectron2's own (``register_pascal_voc``).
"""

from __future__ import annotations

import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_pascal_voc

# name -> (folder under the root, split file in ImageSets/Main, VOC year: 2007 evaluates with the 11-point metric)
VOC_SPLITS: dict[str, tuple[str, str, int]] = {
    **{f"voc_2007_{s}": ("VOC2007", s, 2007) for s in ("trainval", "train", "val", "test")},
    **{f"voc_2012_{s}": ("VOC2012", s, 2012) for s in ("trainval", "train", "val")},
    **{
        f"voc_mini_{s}": (os.path.join("voc-mini", "VOCdevkit", "VOC2012"), s, 2012)
        for s in ("trainval", "train", "val")
    },
}


def datasets_root(root: str | None = None) -> str:
    """The flag if given, else ``$DETECTRON2_DATASETS``, else ``datasets`` (detectron2's rule)."""
    return os.path.expanduser(root or os.environ.get("DETECTRON2_DATASETS", "datasets"))


def register_voc(root: str) -> None:
    """(Re-)register every name of ``VOC_SPLITS`` under ``root``; evaluation picks the VOC evaluator."""
    for name, (folder, split, year) in VOC_SPLITS.items():
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_pascal_voc(name, os.path.join(root, folder), split, year)
        MetadataCatalog.get(name).evaluator_type = "pascal_voc"
