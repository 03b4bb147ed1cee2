"""Augmentations of the paper: copy-paste of salient foregrounds onto new backgrounds."""

from .copy_paste import (
    BACKGROUNDS,
    BLENDS,
    CopyPaste,
    background_crop,
    binarize,
    cover_crop,
    least_salient_window,
    texture_source,
)

__all__ = [
    "BACKGROUNDS",
    "BLENDS",
    "CopyPaste",
    "background_crop",
    "binarize",
    "cover_crop",
    "least_salient_window",
    "texture_source",
]
