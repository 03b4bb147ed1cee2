"""Copy-paste inside the training dataset: masks, indices, counts, errors."""

import os

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from pretrain.augment.copy_paste import binarize, crop_mask
from pretrain.config import load_config
from pretrain.data import build_train_batches, build_train_dataset, dataset_roots
from pretrain.data.fast_path import WorkerBatch
from tests.conftest import tiny_config


def _dataset(cache, tmp_path, *opts):
    cfg = tiny_config(cache, str(tmp_path), "DATA.EMBEDDED.MASKS", "true", *opts)
    return build_train_dataset(cfg, dataset_roots(cfg)[0]), cfg


def test_probability_zero_is_the_plain_pipeline(embedded_cache, tmp_path):
    plain, _ = _dataset(embedded_cache, tmp_path)
    masked, _ = _dataset(embedded_cache, tmp_path, "COPY_PASTE.PROB", "1e-9")
    for i in (0, 7, 33):
        a, b = plain[i], masked[i]
        assert b["pasted"] == 0 and torch.equal(a["image"], b["image"])


def test_pasted_samples_keep_their_index_and_get_a_flat_background(embedded_cache, tmp_path):
    ds, cfg = _dataset(
        embedded_cache, tmp_path, "COPY_PASTE.PROB", "1.0", "INPUT.COLOR_JITTER", "(0.0, 0.0, 0.0, 0.0)",
        "INPUT.GRAYSCALE_PROB", "0.0", "INPUT.CROP_SCALE", "(1.0, 1.0)",
    )  # fmt: skip
    item = ds[5]
    assert item["index"] == 5 and item["label"] == int(ds.labels[5]) and item["pasted"] == 1
    image = item["image"] * torch.tensor(cfg.INPUT.STD)[:, None, None] + torch.tensor(cfg.INPUT.MEAN)[:, None, None]
    corners = image[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # objects never reach the corners
    assert torch.allclose(corners, corners[:, :1], atol=1 / 255 + 1e-6)  # one gray level
    assert torch.allclose(corners[0], corners[1], atol=1e-6) and torch.allclose(corners[1], corners[2], atol=1e-6)


def test_ratio_over_an_epoch(embedded_cache, tmp_path):
    ds, _ = _dataset(embedded_cache, tmp_path, "COPY_PASTE.PROB", "0.5")
    pasted = np.mean([ds[i]["pasted"] for i in range(len(ds))])
    assert 0.3 < pasted < 0.7  # 64 draws of p = 0.5 (exact rate: tests/augment)


def test_empty_and_missing_masks(embedded_cache, tmp_path):
    _, cfg = _dataset(embedded_cache, tmp_path)
    train_root = dataset_roots(cfg)[0]
    masks = tmp_path / "masks"
    for cls in os.listdir(train_root):
        os.makedirs(masks / cls)
        for f in sorted(os.listdir(os.path.join(train_root, cls)))[1:]:  # the first image of each class has none
            (masks / cls / f).write_bytes(_png(np.zeros((32, 32), np.uint8)))  # empty masks
    with pytest.raises(FileNotFoundError, match=r"4 of 64 images have no mask.*\n.*00000\.png"):
        _dataset(embedded_cache, tmp_path, "COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(masks))
    ds, _ = _dataset(
        embedded_cache, tmp_path, "COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(masks),
        "COPY_PASTE.MISSING_MASKS", "skip",
    )  # fmt: skip
    first, second = ds[0], ds[1]
    assert first["missing_mask"] == 1 and first["pasted"] == 0
    assert second["empty_mask"] == 1 and second["pasted"] == 0


def test_a_folder_without_masks_is_refused(tmp_path):
    cfg = tiny_config(str(tmp_path / "cache"), str(tmp_path), "DATA.SOURCE", "folder", "COPY_PASTE.PROB", "0.5")
    os.makedirs(tmp_path / "imgs" / "a")
    (tmp_path / "imgs" / "a" / "x.png").write_bytes(_png(np.zeros((8, 8, 3), np.uint8)))
    with pytest.raises(ValueError, match="COPY_PASTE.MASK_ROOT"):
        build_train_dataset(cfg, str(tmp_path / "imgs"))


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


@pytest.mark.parametrize("background", ["texture", "image"])
def test_texture_and_image_backgrounds_in_the_dataset(embedded_cache, tmp_path, background):
    textures = tmp_path / "textures"
    os.makedirs(textures)
    for i in range(2):
        (textures / f"{i}.png").write_bytes(_png(np.full((50, 70, 3), 40 + 100 * i, np.uint8)))
    ds, _ = _dataset(
        embedded_cache, tmp_path, "COPY_PASTE.PROB", "1.0", "COPY_PASTE.BACKGROUND", background,
        "COPY_PASTE.TEXTURE_ROOT", str(textures),
    )  # fmt: skip
    items = [ds[i] for i in range(8)]
    assert all(item["pasted"] == 1 for item in items)
    assert all(item["image"].shape == (3, 32, 32) for item in items)


@pytest.mark.parametrize("backend", ["cpu", "gpu", "resident"])
def test_a_crop_that_misses_the_object_is_not_an_empty_mask(tmp_path, backend):
    """A crop without any of its mask's foreground keeps its own background and is counted as such, apart
    from masks without foreground; on the reference and fast paths exactly where the plan's box misses it."""
    rng = np.random.default_rng(0)
    for name, corner in (("blank", False), ("corner", True)):
        os.makedirs(tmp_path / "images" / "a", exist_ok=True)
        os.makedirs(tmp_path / "masks" / "a", exist_ok=True)
        (tmp_path / "images" / "a" / f"{name}.png").write_bytes(_png(rng.integers(0, 256, (64, 64, 3), np.uint8)))
        mask = np.zeros((64, 64), np.uint8)
        mask[:12, :12] = 255 if corner else 0
        (tmp_path / "masks" / "a" / f"{name}.png").write_bytes(_png(mask))
    opts = ["COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(tmp_path / "masks"), "INPUT.SIZE", "16"]
    opts += ["INPUT.CROP_SCALE", "(0.1, 0.3)", "INPUT.BACKEND", backend, "SOLVER.IMS_PER_BATCH", "2"]
    opts += ["DATA.NUM_WORKERS", "0"]  # the batches are made here
    cfg = load_config("", opts)
    ds = build_train_dataset(cfg, str(tmp_path / "images"))
    loader = build_train_batches(cfg, ds, torch.device("cpu"))[0]
    missed = []
    for epoch in range(16):
        ds.set_epoch(epoch)
        if backend == "resident":
            batch = loader.batch(torch.arange(2))
        elif backend == "gpu":
            batch = loader.finish(WorkerBatch.pack([ds[0], ds[1]]))
        else:
            batch = default_collate([ds[0], ds[1]])
        flags = {key: batch[key].tolist() for key in ("pasted", "empty_mask", "crop_without_foreground")}
        assert [flags[key][0] for key in flags] == [0, 1, 0]  # blank: an empty mask
        assert flags["empty_mask"][1] == 0 and flags["pasted"][1] + flags["crop_without_foreground"][1] == 1
        missed.append(flags["crop_without_foreground"][1])
        if backend != "resident":  # the reference's mask crop decides (the fast path's resize agrees here)
            box = ds.plan(1, (64, 64)).box
            assert missed[-1] == int(not binarize(crop_mask(mask, box, (16, 16)), 0.5).any()), (epoch, box)
    assert 0 < sum(missed) < len(missed)
