"""Caltech-20 (../shared/data/caltech20) as the image-folder layout the trainer reads, with saliency masks.

The shared set lists its split in ``train.txt`` / ``test.txt`` (paths relative to
``101_ObjectCategories``) instead of a ``train/<class>`` tree. :func:`prepare_caltech20` writes
``train/<class>/<image>.png`` and ``val/<class>/<image>.png`` (RGB; the grayscale photos of
car_side included), each resized so its shorter side is ``size`` and center-cropped square, the
embedded set's shape: Caltech objects sit in the middle of the photo, so the crop keeps them.
Masks (``masks_<method>/train``) are computed on those small images with the embedded set's
small-image parameters: on 30 SOD photos at 64 px that scored as well as masks computed on the
full photos and resized (RBD adaptive F 0.63 vs 0.67, MC 0.67 vs 0.63, GS 0.61 both) at a sixth of
the time, and the masks then see exactly the training pixels. Every file is written atomically
and skipped when present, and ``done.json`` (the parameters) is written last, so a killed prepare
resumes and a finished one is not redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass

from PIL import Image
from torchvision.transforms import functional as TF
from tqdm import tqdm

from pretrain.probe.datasets import list_split
from pretrain.saliency import small_image_options
from pretrain.saliency.batch import compute_masks
from pretrain.utils.atomic import atomic_open, write_json
from pretrain.utils.image_io import load_rgb

logger = logging.getLogger("pretrain.reproduce")

IMAGES = "101_ObjectCategories"
SPLITS = {"train": "train.txt", "val": "test.txt"}  # prepared folder -> list file
MASK_METHODS = ("gs", "mc", "rbd")  # no true masks: Caltech-101's outlines are polygons, not shipped here
DONE = "done.json"


@dataclass(frozen=True)
class PreparedSet:
    """Where a prepared Caltech-20 lies: the two image trees and one mask tree per method."""

    root: str
    masks: dict[str, str]

    @property
    def train(self) -> str:
        return os.path.join(self.root, "train")

    @property
    def val(self) -> str:
        return os.path.join(self.root, "val")


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size`` (bilinear, antialiased), then crop the center square:
    torchvision's Resize + CenterCrop, the evaluation transform's own steps."""
    return TF.center_crop(TF.resize(image, size, antialias=True), [size, size])


def _fingerprint(data_root: str, size: int) -> str:
    """A digest of what decides the prepared files: the lists, the size, the mask parameters."""
    saliency = {m: small_image_options(m) for m in MASK_METHODS}
    # "records": mask folders carry their provenance record; folders an older dilo prepared have none
    params = {"size": size, "resize": "torchvision", "saliency": saliency, "records": 1}
    h = hashlib.sha1(json.dumps(params, sort_keys=True).encode())
    for name in SPLITS.values():
        with open(os.path.join(data_root, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def _write_split(data_root: str, list_file: str, out: str, size: int, desc: str) -> None:
    root, paths, _, _ = list_split(os.path.join(data_root, IMAGES), os.path.join(data_root, list_file))
    pngs = {rel: os.path.join(out, os.path.splitext(rel)[0] + ".png") for rel in paths}  # the lists name JPEGs
    todo = [rel for rel in paths if not os.path.exists(pngs[rel])]
    for rel in tqdm(todo, desc=desc, unit="img"):
        with atomic_open(pngs[rel]) as f:
            fit_square(load_rgb(os.path.join(root, rel)), size).save(f, format="PNG")


def prepare_caltech20(data_root: str, cache_dir: str, size: int = 64) -> PreparedSet:
    """The prepared set for ``data_root`` under ``cache_dir``, written first if it is not there yet.

    Every mask method is computed (800 small images take seconds each), so one prepared folder
    serves any subset of settings.
    """
    for name in SPLITS.values():
        if not os.path.isfile(os.path.join(data_root, name)):
            raise FileNotFoundError(f"{os.path.join(data_root, name)!r} does not exist: is {data_root!r} caltech20?")
    root = os.path.join(
        os.path.abspath(os.path.expanduser(cache_dir)), f"caltech20-{size}px-{_fingerprint(data_root, size)}"
    )
    prepared = PreparedSet(root, {m: os.path.join(root, f"masks_{m}", "train") for m in MASK_METHODS})
    if os.path.exists(os.path.join(root, DONE)):
        return prepared
    for split, list_file in SPLITS.items():
        _write_split(data_root, list_file, os.path.join(root, split), size, f"caltech20 {split}")
    for method, out in prepared.masks.items():
        summary = compute_masks(prepared.train, out, method, small_image_options(method), workers=1)
        if summary.bad:
            raise ValueError(f"caltech20: unreadable prepared images: {summary.bad[:5]}")
    write_json(os.path.join(root, DONE), {"data_root": os.path.abspath(data_root), "size": size})
    logger.info(json.dumps({"caltech20_prepared": root}))
    return prepared
