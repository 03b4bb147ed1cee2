"""The resident data path (INPUT.BACKEND resident) against the reference path, sample by sample."""

import os

import cv2
import numpy as np
import pytest
import torch

from pretrain.augment.batched import crop_batch, crop_grid, gaussian_kernel_size
from pretrain.augment.copy_paste import PasteOutcome, binarize, crop_mask
from pretrain.config import load_config
from pretrain.data import build_train_batches, build_train_dataset, dataset_roots
from pretrain.data.resident import ResidentLoader
from tests.conftest import shared_data, tiny_config, train

from .test_fast_augment import LEVEL

CPU = torch.device("cpu")


def _paths(cache, tmp_path, *opts):
    """(reference dataset, resident loader) of the tiny embedded set with true masks."""
    cfg = tiny_config(cache, str(tmp_path), "DATA.EMBEDDED.MASKS", "true", *opts)
    root = dataset_roots(cfg)[0]
    ref = build_train_dataset(cfg, root)
    cfg = tiny_config(cache, str(tmp_path), "DATA.EMBEDDED.MASKS", "true", *opts, "INPUT.BACKEND", "resident")
    loader, _ = build_train_batches(cfg, build_train_dataset(cfg, root), CPU)
    return ref, loader, cfg


def _compare(ref, loader, slots, epoch):
    """Mean absolute difference in levels per sample, resident vs reference of ``epoch``; flags must agree."""
    out = loader.batch(torch.tensor(slots))
    ref.set_epoch(epoch)
    std = torch.tensor(load_config("", []).INPUT.STD).view(3, 1, 1)
    diffs = []
    for k, i in enumerate(slots):
        expected = ref[i]
        if epoch == loader.dataset.epoch:
            assert (expected["index"], expected["pasted"]) == (int(out["index"][k]), int(out["pasted"][k]))
        diffs.append(float(((out["image"][k] - expected["image"]) * std).abs().mean() / LEVEL))
    return np.array(diffs), out


@pytest.mark.parametrize(
    "opts", [(), ("COPY_PASTE.PROB", "0.5"), ("COPY_PASTE.PROB", "0.7", "COPY_PASTE.BLEND", "mix")]
)
def test_resident_samples_are_the_reference_samples(embedded_cache, tmp_path, opts):
    """Same draws per sample (crop, coin, gray level, blending, jitter, flip): within 2.5 levels on
    average of the reference's pixels (PIL quantizes hue to 8 bits), over 20 for another epoch's draws."""
    ref, loader, _ = _paths(embedded_cache, tmp_path, *opts)
    loader.dataset.set_epoch(2)
    slots = list(range(0, 64, 2))
    same, out = _compare(ref, loader, slots, 2)
    other, _ = _compare(ref, loader, slots, 3)
    assert same.mean() < 2.5 and same.max() < 4.0, same
    assert other.mean() > 20.0
    assert out["image"].shape == (32, 3, 32, 32) and out["image"].dtype == torch.float32
    assert (int(out["pasted"].sum()) > 0) == bool(opts)


def test_downscaled_crops_of_photos_of_different_sizes(photos):
    """VOC photos (about 500 x 375, one 2000 x 1500) edge-padded into one tensor and cropped to
    224 px: the same draws as the reference, within PIL's antialiasing of the averaged samples."""
    opts = ["COPY_PASTE.MASK_ROOT", str(photos / "masks"), "COPY_PASTE.PROB", "0.5"]
    ref = build_train_dataset(load_config("", opts), str(photos / "images"))
    cfg = load_config("", [*opts, "INPUT.BACKEND", "resident", "SOLVER.IMS_PER_BATCH", "4"])
    loader, _ = build_train_batches(cfg, build_train_dataset(cfg, str(photos / "images")), CPU)
    assert loader.pixels.shape == (12, 4, 1500, 2000)
    diffs, out = _compare(ref, loader, list(range(12)), 0)
    assert diffs.mean() < 2.5 and diffs.max() < 4.0, diffs
    assert 0 < int(out["pasted"].sum()) < 12


def test_crop_grid_resizes_as_opencv_does_on_the_cropped_region():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    pixels = torch.from_numpy(image).float()[None, None]
    for top, left, h, w in [(0, 0, 40, 50), (3, 5, 17, 23), (10, 0, 30, 11)]:
        boxes = torch.tensor([[top, left, h, w]], dtype=torch.float32)
        grid = crop_grid(boxes, (32, 32), (40, 50))
        ours = torch.nn.functional.grid_sample(pixels, grid, align_corners=True)[0, 0].numpy()
        expected = cv2.resize(image[top : top + h, left : left + w].astype(np.float32), (32, 32))
        assert np.abs(ours - expected).max() < 1e-3, (top, left, h, w)
    identity = crop_grid(torch.tensor([[0.0, 0.0, 40.0, 50.0]]), (40, 50), (40, 50))
    same = torch.nn.functional.grid_sample(pixels, identity, align_corners=True)
    assert torch.equal(same.round(), pixels)  # float error of normalized coordinates, far below a level


def test_copy_paste_keeps_exactly_the_foreground(embedded_cache, tmp_path):
    ref, loader, _ = _paths(embedded_cache, tmp_path, "COPY_PASTE.PROB", "1.0")
    slots = torch.arange(16)
    plans = loader.plans(slots)
    boxes = torch.tensor([p.box for p in plans], dtype=torch.float32)
    crops = crop_batch(loader.pixels[slots], boxes, loader.planner.size)
    before = crops.clone()
    status = loader._copy_paste(crops, slots, plans)
    assert (status == PasteOutcome.PASTED).all()
    for k in range(16):
        foreground = binarize(before[k, 3], 0.5)
        assert 0 < foreground.sum() < foreground.numel()
        assert torch.equal(crops[k, :3, foreground], before[k, :3, foreground])  # bit-exact
        background = crops[k, :3, ~foreground]
        assert (background == background[0, 0]).all()  # one gray level
        # the mask was cropped as the reference crops it
        i, j, h, w = boxes[k].int().tolist()
        mask = np.asarray(ref.masks.load(k))
        expected = binarize(crop_mask(mask, (i, j, h, w), (32, 32)), 0.5)
        assert (foreground.numpy() != expected).mean() < 0.01


def test_gaussian_blending_is_opencvs():
    assert gaussian_kernel_size(2.0) == 17 and gaussian_kernel_size(1.0) == 9
    from torchvision.transforms.v2 import functional as TF2

    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 5:25] = 1.0
    expected = cv2.GaussianBlur(mask, (0, 0), 2.0)
    ours = TF2.gaussian_blur(torch.from_numpy(mask)[None, None], [17, 17], [2.0, 2.0])[0, 0].numpy()
    assert np.abs(ours - expected).max() < 1e-5


def test_flags_for_missing_and_empty_masks(embedded_cache, tmp_path):
    _, _, cfg = _paths(embedded_cache, tmp_path)
    train_root = dataset_roots(cfg)[0]
    masks = tmp_path / "masks"
    for cls in os.listdir(train_root):
        os.makedirs(masks / cls)
        for f in sorted(os.listdir(os.path.join(train_root, cls)))[1:]:  # the first image of each class has none
            cv2.imwrite(str(masks / cls / f), np.zeros((32, 32), np.uint8))  # empty masks
    opts = ("COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(masks), "COPY_PASTE.MISSING_MASKS", "skip")
    _, loader, _ = _paths(embedded_cache, tmp_path, *opts)
    out = loader.batch(torch.arange(64))
    assert int(out["missing_mask"].sum()) == 4 and int(out["empty_mask"].sum()) == 60
    assert int(out["pasted"].sum()) == 0 and out["missing_mask"][0] == 1


def test_resident_path_trains_and_resumes_bit_identically(embedded_cache, tmp_path):
    opts = ("INPUT.BACKEND", "resident", "COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "true", "SOLVER.EPOCHS", "1")
    whole, result = train(tiny_config(embedded_cache, str(tmp_path / "whole"), *opts))
    assert isinstance(whole.loader, ResidentLoader) and len(whole.loader) == 4
    assert result["epochs"] == 1 and "knn_top1" in result
    cfg = tiny_config(embedded_cache, str(tmp_path / "split"), *opts)
    _, first = train(cfg, stop_at_step=2)
    assert first["interrupted"]
    resumed, _ = train(cfg, resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(whole.criterion.bank.features, resumed.criterion.bank.features)


def test_an_unreadable_image_is_named(tmp_path):
    root = tmp_path / "images" / "a"
    os.makedirs(root)
    photo = os.path.join(shared_data("caltech20", "101_ObjectCategories", "airplanes"), "image_0001.jpg")
    with open(photo, "rb") as f:
        data = f.read()
    for k in range(3):
        (root / f"{k}.jpg").write_bytes(data)
    (root / "1.jpg").write_bytes(b"not a jpeg")
    cfg = load_config("", ["INPUT.BACKEND", "resident", "SOLVER.IMS_PER_BATCH", "2"])
    with pytest.raises(Exception, match=r"a/1\.jpg"):
        build_train_batches(cfg, build_train_dataset(cfg, str(tmp_path / "images")), CPU)
    cfg = load_config("", ["INPUT.BACKEND", "resident", "SOLVER.IMS_PER_BATCH", "2", "DATA.SKIP_BAD_IMAGES", "True"])
    loader, _ = build_train_batches(cfg, build_train_dataset(cfg, str(tmp_path / "images")), CPU)
    out = loader.batch(torch.tensor([1, 2]))  # the old "next file" gave [2, 2]
    assert out["index"].tolist() == [0, 2] and out["bad"] == [str(root / "1.jpg"), ""]
