"""Transfer to detection: checkpoint conversion (no detectron2 needed) and detectron2 VOC finetuning.

Importing the package registers ``Res5ROIHeadsExtraNorm`` in detectron2's ``ROI_HEADS_REGISTRY``
when detectron2 is installed, so a config naming it works in any script that imports
``detection``. Without detectron2 the package still imports, and ``detection.convert`` works:
checkpoints are converted where pretraining ran, which often has no detectron2.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("detectron2") is not None:
    from . import roi_heads  # noqa: F401  (registers Res5ROIHeadsExtraNorm)
