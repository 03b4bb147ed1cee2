"""Fixtures of the data tests: real photos with masks."""

import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pretrain.utils.image_io import load_rgb
from tests.conftest import shared_data

VOC = ("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """12 VOC photos (about 500 x 375) in two classes, one of them enlarged to 2000 px (for reduced
    decoding), each with an elliptical 0/255 mask of its size."""
    src = shared_data(*VOC)
    root = tmp_path_factory.mktemp("photos")
    for k, name in enumerate(sorted(os.listdir(src))[:12]):
        img = load_rgb(os.path.join(src, name))
        if k == 0:
            img = img.resize((2000, 1500), Image.Resampling.BICUBIC)
        rel = os.path.join("ab"[k % 2], name)
        os.makedirs(root / "images" / rel[0], exist_ok=True)
        os.makedirs(root / "masks" / rel[0], exist_ok=True)
        img.save(root / "images" / rel, quality=92)
        mask = np.zeros((img.height, img.width), np.uint8)
        cv2.ellipse(mask, (img.width // 2, img.height // 2), (img.width // 4, img.height // 3), 0, 0, 360, 255, -1)
        Image.fromarray(mask).save(root / "masks" / (rel[:-4] + ".png"))
    return root


def mask_tree(root: Path, names: Iterable[str], rng: np.random.Generator | None = None) -> tuple[Path, Path]:
    """``root/images/a/<name>.jpg`` for each name, 40 x 30 (random pixels with ``rng``, else black), and the
    empty class folder ``root/masks/a`` that mirrors them; returns the two class folders."""
    images, masks = root / "images" / "a", root / "masks" / "a"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for name in names:
        pixels = np.zeros((30, 40, 3), np.uint8) if rng is None else rng.integers(0, 255, (30, 40, 3), np.uint8)
        cv2.imwrite(str(images / f"{name}.jpg"), pixels)
    return images, masks
