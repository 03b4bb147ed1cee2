"""What a run needs on disk before its Trainer starts: the embedded set and, for copy-paste, its masks.

Masks are made by the saliency tool's function (:func:`pretrain.saliency.batch.compute_masks`,
what ``tools/saliency.py`` runs), with the settings for small images; the data layer only reads
them. The embedded demo computes them here on its first run, once, by rank 0; later runs find
them on disk (``compute_masks`` skips masks already written).
"""

from __future__ import annotations

import logging
import os

from fvcore.common.config import CfgNode

from pretrain.data import dataset_roots
from pretrain.data.build import embedded_mask_root
from pretrain.saliency import small_image_options
from pretrain.saliency.batch import compute_masks
from pretrain.utils import comm

logger = logging.getLogger("pretrain")


def prepare_embedded(cfg: CfgNode) -> None:
    """Generate the embedded set (DATA.SOURCE embedded) and its DATA.EMBEDDED.MASKS masks if copy-paste reads them."""
    if cfg.DATA.SOURCE != "embedded":
        return
    train_root, _ = dataset_roots(cfg)
    method = cfg.DATA.EMBEDDED.MASKS
    if cfg.COPY_PASTE.PROB == 0 or cfg.COPY_PASTE.MASK_ROOT or method == "true":
        return
    if comm.is_main_process():
        out = embedded_mask_root(train_root, method)
        summary = compute_masks(train_root, out, method, small_image_options(method), os.cpu_count() or 1)
        if summary.written:
            logger.info("embedded set: %s masks computed for copy-paste: %s", method, summary)
    comm.barrier()
