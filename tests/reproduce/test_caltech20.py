"""Caltech-20 prepared for the trainer: layout, size, RGB, masks mirroring the images, resume and no redo."""

import os

import numpy as np
import pytest
from PIL import Image

from pretrain.reproduce import prepare_caltech20
from pretrain.reproduce.caltech20 import DONE, IMAGES, MASK_METHODS, fit_square
from pretrain.utils.image_io import list_images
from tests.conftest import shared_data


def caltech_subset(folder, classes: tuple[str, ...], train: int, val: int) -> str:
    """A caltech20 data root with the first ``train`` / ``val`` listed images of each class (the photos linked)."""
    source = shared_data("caltech20")
    os.makedirs(folder)
    os.symlink(os.path.join(source, IMAGES), os.path.join(folder, IMAGES))
    for name, count in (("train.txt", train), ("test.txt", val)):
        with open(os.path.join(source, name)) as f:
            lines = f.read().split()
        picked = [p for c in classes for p in [p for p in lines if p.split("/")[0] == c][:count]]
        with open(os.path.join(folder, name), "w") as f:
            f.write("\n".join(picked) + "\n")
    return str(folder)


def _mtimes(root: str) -> dict[str, int]:
    return {os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns for d, _, fs in os.walk(root) for n in fs}


def test_fit_square_scales_the_shorter_side_and_keeps_the_center():
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :10, 0] = wide[:, 10:30, 1] = wide[:, 30:, 2] = 255  # red | green (middle half) | blue
    out = np.asarray(fit_square(Image.fromarray(wide), 10))
    assert out.shape == (10, 10, 3)
    assert (out[:, 1:9] == [0, 255, 0]).all()  # only the green middle is left, edges aside
    assert np.asarray(fit_square(Image.fromarray(wide[:, :15]), 64)).shape == (64, 64, 3)  # upscaled too


def test_prepare_writes_rgb_squares_and_masks_then_does_nothing_again(tmp_path):
    data = caltech_subset(tmp_path / "data", ("car_side", "airplanes"), 3, 2)
    gray_source = os.path.join(data, IMAGES, "car_side", "image_0001.jpg")
    with Image.open(gray_source) as img:
        assert img.mode == "L"  # car_side photos are grayscale: the prepared ones must be RGB
    prepared = prepare_caltech20(data, str(tmp_path / "cache"), size=64)

    train = list_images(prepared.train)
    assert len(train) == 6 and len(list_images(prepared.val)) == 4
    assert sorted({p.split("/")[0] for p in train}) == ["airplanes", "car_side"]
    assert "car_side/image_0001.png" in train
    for rel in train:
        with Image.open(os.path.join(prepared.train, rel)) as img:
            assert (img.size, img.mode) == ((64, 64), "RGB")
    gray = np.asarray(Image.open(os.path.join(prepared.train, "car_side", "image_0001.png")))
    assert (gray[..., 0] == gray[..., 2]).all() and gray.std() > 10  # a real photo, converted, not blank

    assert sorted(prepared.masks) == sorted(MASK_METHODS)
    for method, root in prepared.masks.items():
        assert root == os.path.join(prepared.root, f"masks_{method}", "train")
        assert list_images(root) == train  # the same tree, one PNG per training image
        with Image.open(os.path.join(root, train[0])) as mask:
            assert (mask.size, mask.mode) == ((64, 64), "L")
            assert np.asarray(mask).std() > 0

    before = _mtimes(prepared.root)
    assert prepare_caltech20(data, str(tmp_path / "cache"), size=64) == prepared
    assert _mtimes(prepared.root) == before  # finished: nothing rewritten

    os.remove(os.path.join(prepared.root, DONE))  # as if killed before the end, one image short
    os.remove(os.path.join(prepared.train, train[0]))
    assert prepare_caltech20(data, str(tmp_path / "cache"), size=64) == prepared
    after = _mtimes(prepared.root)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {os.path.join(prepared.train, train[0]), os.path.join(prepared.root, DONE)}


def test_other_lists_or_sizes_are_prepared_apart_and_a_wrong_root_is_named(tmp_path):
    data = caltech_subset(tmp_path / "data", ("ewer",), 2, 1)
    a = prepare_caltech20(data, str(tmp_path / "cache"), size=32)
    with open(os.path.join(data, "train.txt"), "a") as f:
        f.write("ewer/image_0060.jpg\n")
    b = prepare_caltech20(data, str(tmp_path / "cache"), size=32)
    assert a.root != b.root and len(list_images(b.train)) == 3
    with Image.open(os.path.join(b.train, list_images(b.train)[0])) as img:
        assert img.size == (32, 32)
    with pytest.raises(FileNotFoundError, match="is .* caltech20"):
        prepare_caltech20(str(tmp_path), str(tmp_path / "cache"))
