"""Augmentations: one plan per sample (:mod:`.plan`), carried out by the reference executor
(:mod:`.reference`, PIL/numpy) or the batched one (:mod:`.batched`, tensors); the paper's
copy-paste (:mod:`.copy_paste`) and its backgrounds (:mod:`.backgrounds`)."""

from .backgrounds import background_crop, cover_crop, least_salient_window, texture_source
from .copy_paste import BACKGROUNDS, BLENDS, COUNTED, CopyPaste, PasteOutcome, binarize
from .plan import AugmentationSpec, Planner, SamplePlan

__all__ = [
    "BACKGROUNDS",
    "BLENDS",
    "COUNTED",
    "AugmentationSpec",
    "CopyPaste",
    "PasteOutcome",
    "Planner",
    "SamplePlan",
    "background_crop",
    "binarize",
    "cover_crop",
    "least_salient_window",
    "texture_source",
]
