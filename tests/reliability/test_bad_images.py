"""The bad-image zoo as a user's folder holds it: what loading, saliency and a training run make of each file."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from pretrain.saliency.batch import compute_masks
from pretrain.utils.image_io import BadImageError, load_rgb
from tests.conftest import shared_data, tiny_config, train

UNREADABLE = ("truncated.jpg", "empty.jpg", "text.jpg")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> str:
    """root/a/<case>: a real photo in every form a folder of downloads may hold it, and three broken files."""
    root = tmp_path_factory.mktemp("zoo")
    folder = root / "a"
    folder.mkdir()
    photos = shared_data("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
    photo = Image.open(os.path.join(photos, sorted(os.listdir(photos))[0])).convert("RGB").resize((160, 120))
    rgb = np.asarray(photo)
    photo.save(folder / "photo.jpg")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    photo.convert("RGBA").save(folder / "rgba.png")
    gray = np.asarray(photo.convert("L"))
    cv2.imwrite(str(folder / "gray8.png"), gray)
    cv2.imwrite(str(folder / "gray16.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "rgb16.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    photo.resize((1, 1)).save(folder / "tiny.png")
    photo.resize((4000, 50)).save(folder / "strip.jpg")
    data = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a picture\n")
    return str(root)


def test_every_readable_form_loads_as_8_bit_rgb_of_its_size(zoo):
    folder = os.path.join(zoo, "a")
    reference = np.asarray(load_rgb(os.path.join(folder, "photo.jpg")), dtype=np.int16)
    for name, size in [("cmyk.jpg", (160, 120)), ("rgba.png", (160, 120)), ("gray16.png", (160, 120)),
                       ("rgb16.png", (160, 120)), ("tiny.png", (1, 1)), ("strip.jpg", (4000, 50))]:  # fmt: skip
        image = load_rgb(os.path.join(folder, name))
        assert (image.mode, image.size) == ("RGB", size), name
        if size == (160, 120) and name != "gray16.png":
            assert np.abs(np.asarray(image, dtype=np.int16) - reference).mean() < 8, name
    gray = np.asarray(load_rgb(os.path.join(folder, "gray16.png")), dtype=np.float64)
    assert abs(gray.mean() - reference.mean()) < 8  # PIL's own conversion gave ~255
    for name in UNREADABLE:
        with pytest.raises(BadImageError, match=name):
            load_rgb(os.path.join(folder, name))


def test_saliency_masks_every_readable_image_and_names_the_broken_ones(zoo, tmp_path):
    summary = compute_masks(zoo, str(tmp_path / "masks"), "rbd", workers=1, progress=False)
    assert sorted(os.path.basename(p) for p in summary.bad) == sorted(UNREADABLE) and summary.written == 8
    m8, m16 = (cv2.imread(str(tmp_path / "masks" / "a" / f"gray{n}.png"), cv2.IMREAD_UNCHANGED) for n in (8, 16))
    assert m16.shape == (120, 160) and m16.mean() > 10  # not the near-empty mask of a near-white image
    assert np.array_equal(m8, m16)  # the 16-bit file holds the same picture


def test_a_copy_paste_run_with_skipping_finishes_over_the_zoo(zoo, tmp_path):
    compute_masks(zoo, str(tmp_path / "masks"), "rbd", workers=1, progress=False)
    cfg = tiny_config(
        "", str(tmp_path / "out"), "DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", zoo, "DATA.SKIP_BAD_IMAGES", "True",
        "COPY_PASTE.PROB", "0.5", "COPY_PASTE.MASK_ROOT", str(tmp_path / "masks"), "COPY_PASTE.MISSING_MASKS", "skip",
        "SOLVER.IMS_PER_BATCH", "5", "SOLVER.EPOCHS", "2", "TEST.LINEAR_PROBE", "False",
    )  # fmt: skip
    trainer, result = train(cfg)
    assert result["epochs"] == 2 and trainer.train_set.masks.num_missing == 3  # the broken images have no mask
    with open(os.path.join(cfg.OUTPUT_DIR, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    named = [path for r in records for path in r.get("bad_images", [])]
    assert named and len(named) == len(set(named)), named  # every bad file met is named, and only once
    assert {os.path.basename(p) for p in named} <= set(UNREADABLE)
