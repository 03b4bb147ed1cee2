"""Masks are checked from their headers when the dataset is built; bad ones stop the run or count as missing."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from pretrain.data import build_train_dataset
from pretrain.data.masks import MaskFolder, png_size
from pretrain.utils.image_io import BadImageError
from tests.conftest import tiny_config


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


@pytest.fixture
def folder(tmp_path):
    """Six 40x30 images; masks: 2 good, wrong size, truncated, zero-byte, destroyed pixels in a whole frame."""
    images, masks = tmp_path / "images" / "a", tmp_path / "masks" / "a"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(images / f"{i}.jpg"), rng.integers(0, 255, (30, 40, 3), np.uint8))
    good = _png(np.full((30, 40), 255, np.uint8))
    (masks / "0.png").write_bytes(good)
    (masks / "1.png").write_bytes(good)
    (masks / "2.png").write_bytes(_png(np.zeros((40, 30), np.uint8)))  # transposed: 30x40
    (masks / "3.png").write_bytes(good[: len(good) // 2])
    (masks / "4.png").write_bytes(b"")
    scrambled = bytearray(_png(rng.integers(0, 255, (30, 40), np.uint8)))
    scrambled[40:-20] = bytes(len(scrambled) - 60)  # pixels destroyed, header and end intact
    (masks / "5.png").write_bytes(bytes(scrambled))
    return tmp_path


def _build(root, *opts):
    cfg = tiny_config("", str(root / "out"), "DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", str(root / "images"),
                      "COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(root / "masks"), *opts)  # fmt: skip
    return build_train_dataset(cfg, str(root / "images"))


def test_every_bad_header_is_reported_at_build_time(folder):
    with pytest.raises(ValueError) as e:
        _build(folder)
    message = str(e.value)
    assert message.startswith("3 of 6 masks in")
    assert "2.png: 30x40, its image 40x30" in message and "MISSING_MASKS skip" in message
    assert "3.png: not a whole PNG" in message and "4.png: not a whole PNG" in message


@pytest.mark.parametrize("opt", [("COPY_PASTE.MISSING_MASKS", "skip"), ("DATA.SKIP_BAD_IMAGES", "True")])
def test_under_the_skip_settings_bad_masks_count_as_missing(folder, opt):
    ds = _build(folder, *opt)
    assert ds.masks.num_missing == 3 and ds.masks.present == [True, True, False, False, False, True]
    assert [ds[i]["missing_mask"] for i in range(6)] == [0, 0, 1, 1, 1, 1]  # 5.png fails to decode: missing too
    assert ds[0]["pasted"] == 1


def test_a_mask_that_fails_to_decode_stops_the_run_without_skip(folder):
    for name in ("2.png", "3.png", "4.png"):
        os.remove(folder / "masks" / "a" / name)
    masks = MaskFolder(str(folder / "masks"), [f"a/{i}.jpg" for i in (0, 1, 5)])
    assert masks.check(str(folder / "images")) == []
    with pytest.raises(BadImageError, match=r"5\.png"):
        masks.load(2)


def test_png_size_reads_the_header(folder):
    assert png_size(str(folder / "masks" / "a" / "0.png")) == (40, 30)
    assert png_size(str(folder / "masks" / "a" / "2.png")) == (30, 40)
