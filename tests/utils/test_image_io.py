"""Decoding unusual images: 16-bit and float grayscale come out at their true brightness."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from pretrain.saliency import build_saliency
from pretrain.utils.image_io import list_images, load_rgb, mask_paths
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real grayscale photo, small enough for RBD to be quick."""
    path = shared_data("sod-dev", "images")
    first = sorted(os.listdir(path))[0]
    gray = np.asarray(Image.open(f"{path}/{first}").convert("L"))
    return cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)


def test_16_bit_gray_photo_loads_like_its_8_bit_version_and_gets_the_same_mask(photo, tmp_path):
    cv2.imwrite(str(tmp_path / "g8.png"), photo)
    cv2.imwrite(str(tmp_path / "g16.png"), photo.astype(np.uint16) * 257)
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    a, b = (np.asarray(load_rgb(str(tmp_path / f"g{n}.png")), dtype=np.int16) for n in (8, 16))
    assert np.abs(a - b).max() == 0 and abs(b.mean() - photo.mean()) < 0.5
    rbd = build_saliency("rbd")
    m8, m16 = rbd(a.astype(np.uint8)), rbd(b.astype(np.uint8))
    assert m16.mean() > 0.05 and np.abs(m8 - m16).mean() < 1e-3


def test_16_bit_rgb_int32_and_float_images_are_scaled(photo, tmp_path):
    rgb = np.stack([photo, photo // 2, 255 - photo], -1)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    assert np.abs(np.asarray(load_rgb(str(tmp_path / "c16.png")), dtype=np.int16) - rgb).max() <= 1
    Image.fromarray(photo.astype(np.int32) * 257, "I").save(tmp_path / "i.tif")
    Image.fromarray(photo.astype(np.float32) / 255, "F").save(tmp_path / "f.tif")
    for name in ("i.tif", "f.tif"):
        got = np.asarray(load_rgb(str(tmp_path / name)))[..., 0].astype(np.int16)
        assert np.abs(got - photo).max() <= 1, name


def test_list_images_skips_hidden_names_and_lists_each_real_folder_once(tmp_path):
    for rel in ("a/1.png", "a/.2.png", "a/sub/3.jpg", ".ipynb_checkpoints/4.png", "b/5.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (2, 2)).save(tmp_path / rel)
    os.symlink("..", tmp_path / "a" / "sub" / "up")  # a loop: a/sub/up -> a
    os.symlink(str(tmp_path / "a"), tmp_path / "c")  # a second link to a folder listed already
    os.symlink(str(tmp_path / "b"), tmp_path / "a" / "zb")  # b, reached first through a/zb
    assert list_images(str(tmp_path)) == ["a/1.png", "a/sub/3.jpg", "a/zb/5.png"]
    assert list_images(str(tmp_path / "c")) == ["1.png", "sub/3.jpg", "zb/5.png"]  # a link as the root is listed


def test_mask_paths_gives_images_sharing_a_stem_a_mask_each():
    rels = ["c/x.jpg", "c/x.png", "c/y.jpg", "d/x.jpg"]
    assert mask_paths("m", rels) == ["m/c/x.jpg.png", "m/c/x.png.png", "m/c/y.png", "m/d/x.png"]
    with pytest.raises(ValueError, match=r"share the masks \['c/x.jpg.png'\] under 'm'"):
        mask_paths("m", ["c/x.jpg", "c/x.png", "c/x.jpg.png"])  # an image named x.jpg.png
