"""Reduced-size decoding: libjpeg-turbo's bindings (optional simplejpeg) against PIL, pixel for pixel; PIL's path."""

import os

import numpy as np
import pytest
from PIL import Image

from pretrain.augment.plan import Planner
from pretrain.config import load_config
from pretrain.data import BadImageError, augmentation_spec
from pretrain.data import reduced_decode as rd
from pretrain.utils.image_io import load_rgb

turbo = pytest.mark.skipif(rd.simplejpeg is None, reason="the optional simplejpeg is not installed")


def _files(photos, tmp_path):
    """The 2000 px photo, two VOC photos, a grayscale and a CMYK JPEG, a PNG."""
    a, b = sorted((photos / "images" / "a").iterdir()), sorted((photos / "images" / "b").iterdir())
    img = Image.open(b[1])
    extra = {"gray.jpg": img.convert("L"), "cmyk.jpg": img.convert("CMYK"), "rgb.png": img}
    for name, im in extra.items():
        im.save(tmp_path / name, quality=90)
    return [str(p) for p in (a[0], a[1], b[0])] + [str(tmp_path / name) for name in extra]


def _decode_all(paths, scales):
    out = []
    for path in paths:
        for scale in scales:
            encoded = rd.open_encoded(path)
            image, actual = rd.decode_rgb(encoded, scale)
            out.append((encoded.size, actual, np.asarray(image), encoded.pil is None))
    return out


@turbo
def test_turbo_decodes_pils_pixels_at_every_reduction(photos, tmp_path, monkeypatch):
    paths = _files(photos, tmp_path)
    turbo = _decode_all(paths, (1, 2, 4, 8))
    monkeypatch.setattr(rd, "simplejpeg", None)
    pil = _decode_all(paths, (1, 2, 4, 8))
    for (size, scale, pixels, _), (size_p, scale_p, pixels_p, _) in zip(turbo, pil, strict=True):
        assert (size, scale) == (size_p, scale_p)
        assert np.array_equal(pixels, pixels_p)
    names = [os.path.basename(p) for p in paths for _ in range(4)]
    taken = {name for name, t in zip(names, turbo, strict=True) if t[3]}
    assert taken == {os.path.basename(p) for p in paths[:3]} | {"gray.jpg"}  # CMYK and PNG: PIL


@turbo
def test_turbo_crops_are_pils_crops(photos, tmp_path, monkeypatch):
    """read_crop end to end (plan, reduction, OpenCV or PIL resize): the same crop and plan either way."""
    planner = Planner(augmentation_spec(load_config("", ["INPUT.CROP_SCALE", "(0.05, 1.0)"])))
    paths = _files(photos, tmp_path)
    draws = [(path, seed) for path in paths for seed in range(6)]

    def crops():
        return [rd.read_crop(p, lambda s, k=k: planner.plan(k, 0, 0, s), planner.size) for p, k in draws]

    turbo = crops()
    monkeypatch.setattr(rd, "simplejpeg", None)
    for (crop, plan, size), (crop_p, plan_p, size_p) in zip(turbo, crops(), strict=True):
        assert (plan, size) == (plan_p, size_p)
        assert crop.shape == (224, 224, 3) and crop.flags.c_contiguous and crop.flags.writeable
        assert np.array_equal(crop, crop_p)
    scales = {rd.draft_scale(plan.box, planner.size) for _, plan, _ in turbo}
    assert {1, 2, 4} <= scales  # enlarged, shrunk and reduced crops all compared


@pytest.mark.parametrize("decoder", [pytest.param("turbo", marks=turbo), "pil"])
def test_a_damaged_jpeg_is_reported_as_pil_reports_it(photos, tmp_path, monkeypatch, decoder):
    if decoder == "pil":
        monkeypatch.setattr(rd, "simplejpeg", None)
    data = sorted((photos / "images" / "b").iterdir())[0].read_bytes()
    for name, content in {"cut.jpg": data[: len(data) // 2], "junk.jpg": data[:2] + b"\x00" * 64}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BadImageError, match=name):
            rd.read_crop(
                str(tmp_path / name),
                lambda s: Planner(augmentation_spec(load_config("", []))).plan(0, 0, 0, s),
                (224, 224),
            )


def test_16_bit_and_float_images_are_scaled_as_the_reference_path_scales_them(tmp_path, monkeypatch):
    """A 16-bit grayscale PNG is not clipped to white on the fast path: the same 8-bit image as load_rgb's."""
    monkeypatch.setattr(rd, "simplejpeg", None)
    ramp = np.tile(np.linspace(0, 65535, 300).astype(np.uint16), (200, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    path = str(tmp_path / "deep.png")
    planner = Planner(augmentation_spec(load_config("", [])))
    crop, plan, _ = rd.read_crop(path, lambda s: planner.plan(0, 0, 0, s), planner.size)
    assert np.array_equal(crop, rd.resize_box(load_rgb(path), plan.box, 1, planner.size))
    assert 0 < crop.mean() < 250
