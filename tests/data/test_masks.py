"""Masks are checked from their headers when the dataset is built; bad ones stop the run or count as missing."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pretrain.data import build_train_dataset
from pretrain.data.masks import MaskFolder, load_mask, png_size, read_mask
from pretrain.saliency.batch import write_mask
from pretrain.utils.image_io import BadImageError
from tests.conftest import shared_data, tiny_config
from tests.data.conftest import mask_tree


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


@pytest.fixture
def folder(tmp_path):
    """Six 40x30 images; masks: 2 good, wrong size, truncated, zero-byte, destroyed pixels in a whole frame."""
    rng = np.random.default_rng(0)
    _, masks = mask_tree(tmp_path, map(str, range(6)), rng)
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


def test_a_mask_bounded_to_its_longer_side_fits_and_reads_at_its_images_size(tmp_path):
    """tools/saliency.py --mask-size: the image's size scaled to the bound is accepted (and read back at the
    image's size, or as stored); any other size is still refused."""
    full = np.zeros((30, 40), np.uint8)
    full[5:25, 10:30] = 255
    sizes = {"0": (20, 15), "1": (40, 30), "2": (20, 10), "3": (50, 38), "4": (15, 20)}  # (w, h); 2-4 misfit
    _, masks = mask_tree(tmp_path, sizes)
    for name, size in sizes.items():
        (masks / f"{name}.png").write_bytes(_png(cv2.resize(full, size, interpolation=cv2.INTER_AREA)))
    folder = MaskFolder(str(tmp_path / "masks"), [f"a/{n}.jpg" for n in sizes], allow_missing=True)
    problems = folder.check(str(tmp_path / "images"), skip_bad=True)
    assert [p.split("/")[-1] for p in problems] == [
        "2.png: 20x10, its image 40x30",
        "3.png: 50x38, its image 40x30",
        "4.png: 15x20, its image 40x30",
    ]
    assert folder.load(0, stored=True).shape == (15, 20)
    for size in ((40, 30), None):  # without a size: the image's header gives it
        scaled = folder.load(0, size)
        assert scaled.shape == (30, 40) and (scaled >= 128).mean() == pytest.approx((full >= 128).mean(), abs=0.03)
    assert np.array_equal(folder.load(1, (40, 30)), full)
    with pytest.raises(ValueError, match=r"2\.png' is 20x10, its image 40x30"):
        load_mask(str(masks / "2.png"), (40, 30))


@pytest.mark.parametrize("kind", ["gray8", "bits1", "rgb", "gray16", "palette"])
def test_masks_read_as_pil_converts_them_to_8_bits(tmp_path, kind):
    """Gray 8- and 1-bit PNGs are decoded by OpenCV (faster); every kind gives PIL's convert('L') values."""
    rng = np.random.default_rng(1)
    values = rng.integers(0, 256, (30, 40), np.uint8)
    image = {
        "gray8": Image.fromarray(values),
        "bits1": Image.fromarray(values >= 128),
        "rgb": Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)),
        "gray16": Image.fromarray(values.astype(np.uint16) * 200),
        "palette": Image.fromarray(values).convert("P"),
    }[kind]
    path = tmp_path / "m.png"
    image.save(path)
    with Image.open(path) as m:
        expected = np.asarray(m.convert("L"))
    assert np.array_equal(read_mask(str(path)), expected)


def _idat(png: bytes) -> bytes:
    """The zlib stream of a PNG: its IDAT chunks' data, joined."""
    pos, parts = 8, []
    while pos < len(png):
        length, kind = int.from_bytes(png[pos : pos + 4], "big"), png[pos + 4 : pos + 8]
        parts += [png[pos + 8 : pos + 8 + length]] if kind == b"IDAT" else []
        pos += 12 + length
    return b"".join(parts)


def test_bounded_masks_are_stored_unfiltered_and_read_back_exactly(tmp_path):
    """write_mask's bounded masks (soft maps of real VOC photos) are stored uncompressed with unfiltered rows
    (each row's filter byte 0, a plain copy for any decoder) and read back as written."""
    src = shared_data("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
    for name in sorted(os.listdir(src))[:8]:
        gray = cv2.imread(os.path.join(src, name), cv2.IMREAD_GRAYSCALE)
        path = str(tmp_path / (name[:-4] + ".png"))
        write_mask(gray / 255.0, path, max_size=128)
        data = Path(path).read_bytes()
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert max(decoded.shape) == 128 and np.array_equal(read_mask(path), decoded)
        rows = zlib.decompress(_idat(data))
        assert len(rows) == decoded.shape[0] * (decoded.shape[1] + 1)  # stored: the rows, each with its filter byte
        assert not np.frombuffer(rows, np.uint8).reshape(decoded.shape[0], -1)[:, 0].any()  # every filter "none"


def test_a_damaged_mask_is_named(tmp_path):
    """A stored mask whose pixels fail zlib's checksum: the error names the file."""
    write_mask(np.full((20, 30), 200 / 255), str(tmp_path / "m.png"), max_size=30)
    data = bytearray((tmp_path / "m.png").read_bytes())
    data[60] ^= 0xFF
    (tmp_path / "m.png").write_bytes(bytes(data))
    with pytest.raises(BadImageError, match="m.png"):
        read_mask(str(tmp_path / "m.png"))
