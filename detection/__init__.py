"""Transfer to detection: checkpoint conversion (no detectron2 needed) and detectron2 VOC finetuning.

Importing the package imports nothing of detectron2, so ``detection.convert`` (behind
``tools/convert.py``) works where detectron2 is absent or broken: checkpoints are converted where
pretraining ran. ``import detection.roi_heads`` registers ``Res5ROIHeadsExtraNorm`` in detectron2's
``ROI_HEADS_REGISTRY`` (``train_net.py`` does), for any script whose config names that head.
"""
