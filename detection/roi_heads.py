"""``Res5ROIHeadsExtraNorm``: detectron2's C4 box head with one more norm layer after res5.

A self-supervised backbone's res5 output has a scale unlike a supervised one's; normalizing it
before the box predictor lets the randomly initialised predictor start from unit-scale
features. This is the head of the MoCo detection protocol, which the paper follows; the norm
is ``MODEL.ROI_BOX_HEAD.NORM`` (SyncBN in ``configs/detection``).
"""

from __future__ import annotations

from detectron2.layers import get_norm
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, Res5ROIHeads
from torch import nn


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeadsExtraNorm(Res5ROIHeads):
    """``Res5ROIHeads`` whose ``res5`` ends with ``norm`` (state-dict key ``roi_heads.res5.norm.*``)."""

    @classmethod
    def _build_res5_block(cls, cfg) -> tuple[nn.Sequential, int]:
        res5, out_channels = super()._build_res5_block(cfg)
        res5.add_module("norm", get_norm(cfg.MODEL.ROI_BOX_HEAD.NORM or cfg.MODEL.RESNETS.NORM, out_channels))
        return res5, out_channels
