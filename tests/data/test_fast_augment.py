"""The fast data path (INPUT.BACKEND gpu) against the reference path: parameters, pixels, statistics."""

import dataclasses
import glob
import os

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from pretrain.augment import batched
from pretrain.augment.backgrounds import GRAY_TILES
from pretrain.augment.copy_paste import PasteOutcome, binarize, crop_mask
from pretrain.augment.plan import (
    Photometric,
    Planner,
    photometric_batch,
    photometric_columns,
    seeded_default_generator,
)
from pretrain.config import load_config
from pretrain.data import BadImageError, augmentation_spec, build_train_dataset
from pretrain.data import reduced_decode as rd
from pretrain.data.fast_path import FastPathLoader, FastSample, PasteJob, WorkerBatch
from pretrain.engine import last_checkpoint
from pretrain.utils.image_io import bounded_size, load_rgb
from pretrain.utils.seed import derive_seed
from tests.conftest import tiny_config, train

VOC = ("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
CPU = torch.device("cpu")
LEVEL = 1.0 / 255.0


def _datasets(photos, *opts):
    opts = ["COPY_PASTE.MASK_ROOT", str(photos / "masks"), *opts]
    ref = build_train_dataset(load_config("", opts), str(photos / "images"))
    fast = build_train_dataset(load_config("", [*opts, "INPUT.BACKEND", "gpu"]), str(photos / "images"))
    return ref, fast


def _executor():
    """The batched photometric executor with the defaults' normalization."""
    cfg = load_config("", [])
    return batched.PhotometricAugmentation(cfg.INPUT.MEAN, cfg.INPUT.STD, CPU)


def _device_half(fast):
    return FastPathLoader(DataLoader(fast), _executor(), CPU)


def _finish(fast, items):
    """The fast path's device half (copy-paste, colours) on the CPU, on a batch of the workers' ``items``."""
    return _device_half(fast).finish(WorkerBatch.pack(items))


def _composited(fast):
    """Every sample of ``fast`` to paste composited by the device half, before the colours: float (n, 3, h, w) and
    the statuses of the rows to paste."""
    batch = WorkerBatch.pack([fast[i] for i in range(len(fast))])
    crops = batch.image.permute(0, 3, 1, 2).float()
    return crops, _device_half(fast).paste(crops, batch, batch.rows_to_paste())


def _photometric_half(images, plans):
    augment = _executor()
    return augment.apply(images.permute(0, 3, 1, 2).float() / 255, photometric_batch(plans))


@pytest.mark.parametrize("prob, epoch", [("0.0", 0), ("0.5", 1)])
def test_fast_samples_match_the_reference_samples(photos, prob, epoch):
    """Same crop, copy-paste, grayscale, jitter and flip per sample: the fast sample is within 3.5
    levels (mean) of the reference sample of the same draws, and over 7 from other draws."""
    ref, fast = _datasets(photos, "COPY_PASTE.PROB", prob)
    std = torch.tensor(load_config("", []).INPUT.STD).view(3, 1, 1)
    fast.set_epoch(epoch)
    items = [fast[i] for i in range(len(fast))]
    batch = _finish(fast, items)
    out = batch["image"]
    for other in (epoch + 1, epoch):  # other draws (the check's control), then the same draws
        ref.set_epoch(other)
        for i, item in enumerate(items):
            expected = ref[i]
            diff = ((out[i] - expected["image"]) * std).abs().mean() / LEVEL
            if other == epoch:
                assert (int(batch["pasted"][i]), item.index) == (expected["pasted"], i)
                assert diff < 3.5, (i, diff)
            else:
                assert diff > 7.0, (i, diff)
    assert int(batch["pasted"].sum()) > 0 or prob == "0.0"


def test_reduced_decoding_keeps_the_crop_resolution(photos):
    assert rd.draft_scale((0, 0, 1000, 1200), (224, 224)) == 4
    assert rd.draft_scale((0, 0, 448, 448), (224, 224)) == 2
    assert rd.draft_scale((0, 0, 447, 2000), (224, 224)) == 1
    path = str(sorted((photos / "images" / "a").iterdir())[0])  # the 2000 x 1500 photo
    planner = Planner(augmentation_spec(load_config("", ["INPUT.CROP_SCALE", "(0.9, 1.0)"])))
    full = load_rgb(path)
    for seed in range(3):
        out, plan, size = rd.read_crop(path, lambda s, seed=seed: planner.plan(seed, 0, 0, s), planner.size)
        i, j, h, w = plan.box
        assert size == (2000, 1500) and min(h, w) >= 4 * 224  # decoded at 1/4
        expected = np.asarray(TF.resized_crop(full, i, j, h, w, [224, 224], antialias=True), dtype=np.float32)
        assert np.abs(out - expected).mean() < 2.0  # levels; the DCT's own downscaling differs slightly


def test_resize_box_is_torchvisions_resized_crop(photos):
    img = load_rgb(str(sorted((photos / "images" / "b").iterdir())[0]))
    for box in [(10, 20, 100, 120), (0, 0, img.height, img.width), (5, 7, 200, 150)]:  # enlarged, shrunk, mixed
        expected = np.asarray(TF.resized_crop(img, *box, [224, 224], antialias=True), dtype=np.float32)
        out = rd.resize_box(img, box, 1, (224, 224))
        assert out.shape == (224, 224, 3) and out.dtype == np.uint8
        assert np.abs(out - expected).mean() < 0.3  # rounding (OpenCV) and edge samples (PIL's box)


@pytest.mark.parametrize(
    "name, factor, mean_tol, max_tol",
    [("brightness", 1.3, 0.5, 1.01), ("contrast", 0.7, 0.6, 1.5), ("contrast", 1.4, 0.6, 1.5),
     ("saturation", 1.35, 0.5, 1.5), ("hue", 0.3, 0.4, 12), ("hue", -0.21, 0.4, 12)],
)  # fmt: skip
def test_each_jitter_operation_is_torchvisions(photos, name, factor, mean_tol, max_tol):
    """Float arithmetic against PIL's uint8 steps: within rounding; hue within PIL's 8-bit HSV quantization."""
    reference = getattr(TF, f"adjust_{name}")
    ours = getattr(batched, f"adjust_{name}")
    for path in sorted((photos / "images" / "b").iterdir())[:3]:
        img = load_rgb(str(path)).resize((160, 120))
        expected = torch.from_numpy(np.array(reference(img, factor))).permute(2, 0, 1).float()
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
        diff = (ours(x, torch.tensor([factor]))[0] * 255 - expected).abs()
        assert diff.mean() < mean_tol and diff.max() <= max_tol, (name, diff.mean(), diff.max())


def _photometric(ranges) -> Photometric:
    """Photometric parameters drawn from the global stream, as RandomGrayscale, ColorJitter and RandomHorizontalFlip."""
    gray = bool(torch.rand(1) < 0.2)
    order, *factors = T.ColorJitter.get_params(*ranges)
    return Photometric(gray, tuple(order.tolist()), tuple(factors), bool(torch.rand(1) < 0.5))


def test_batched_augmentation_applies_each_samples_own_parameters():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (12, 20, 24, 3), dtype=torch.uint8)
    ranges = Planner(augmentation_spec(load_config("", []))).jitter_ranges
    params = [_photometric(ranges) for _ in range(12)]
    params[0] = dataclasses.replace(params[0], gray=True, flip=False)
    params[1] = dataclasses.replace(params[1], gray=False, flip=True)
    batched = _photometric_half(images, params)
    for k in range(12):
        alone = _photometric_half(images[k : k + 1], [params[k]])[0]
        assert torch.allclose(batched[k], alone, atol=1e-5)
    cfg = load_config("", [])
    pixels = batched * torch.tensor(cfg.INPUT.STD).view(3, 1, 1) + torch.tensor(cfg.INPUT.MEAN).view(3, 1, 1)
    assert torch.allclose(pixels[0, 0], pixels[0, 1], atol=1e-5) and torch.allclose(pixels[0, 1], pixels[0, 2])
    unflipped = _photometric_half(images[1:2], [dataclasses.replace(params[1], flip=False)])
    assert torch.allclose(batched[1], unflipped[0].flip(-1), atol=1e-5)


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    grid = np.sort(np.concatenate([a, b]))
    return float(
        np.abs(
            np.searchsorted(np.sort(a), grid, "right") / len(a) - np.searchsorted(np.sort(b), grid, "right") / len(b)
        ).max()
    )


def test_parameter_statistics_match_the_reference(photos, tmp_path):
    """2000 draws of each path from different seeds: KS distance of crop scale and aspect under the
    0.1 % critical value (0.062), rates within 4 sigma, jitter filling its ranges. The same check
    tells RandomResizedCrop's scale 0.08-1 apart from 0.2-1, so it is not vacuous."""
    n, path = 2000, str(tmp_path / "small.jpg")
    load_rgb(str(sorted((photos / "images" / "b").iterdir())[0])).resize((160, 120)).save(path)
    size = (160, 120)
    cfg = load_config("", ["INPUT.SIZE", "32"])  # the parameters do not depend on the output size
    planner = Planner(augmentation_spec(cfg))
    ref, wider = T.RandomResizedCrop(32, scale=(0.2, 1.0)), T.RandomResizedCrop(32, scale=(0.08, 1.0))
    stand_in = Image.new("RGB", size)
    boxes, ref_boxes, wide_boxes, params = [], [], [], []
    for k in range(n):
        _, plan, _ = rd.read_crop(path, lambda s, k=k: planner.plan(1, 0, k, s), planner.size)
        boxes.append(plan.box)
        params.append(plan.photometric)
        with seeded_default_generator(derive_seed(2, k)):
            ref_boxes.append(ref.get_params(stand_in, ref.scale, ref.ratio))
            wide_boxes.append(wider.get_params(stand_in, wider.scale, wider.ratio))

    def scale_aspect(b):
        b = np.array(b, dtype=np.float64)
        return b[:, 2] * b[:, 3] / (size[0] * size[1]), b[:, 3] / b[:, 2]

    (s, a), (rs, ra), (ws, _) = scale_aspect(boxes), scale_aspect(ref_boxes), scale_aspect(wide_boxes)
    assert _ks(s, rs) < 0.062 and _ks(a, ra) < 0.062
    assert _ks(ws, rs) > 0.062  # the check can fail
    assert 0.19 < s.min() < 0.21 and s.max() > 0.95 and np.exp(np.abs(np.log(a))).max() < 4 / 3 * 1.02
    params = photometric_batch(params)
    gray, flip = params["gray"].float().mean().item(), params["flip"].float().mean().item()
    assert abs(gray - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n) and abs(flip - 0.5) < 4 * np.sqrt(0.25 / n)
    factors = params["factors"].numpy()
    assert (factors[:, :3] >= 0.6).all() and (factors[:, :3] <= 1.4).all() and (np.abs(factors[:, 3]) <= 0.4).all()
    assert (factors[:, :3].min(0) < 0.61).all() and (factors[:, :3].max(0) > 1.39).all()
    assert factors[:, 3].min() < -0.39 and factors[:, 3].max() > 0.39
    orders = params["order"]
    assert (orders.sort(1).values == torch.arange(4)).all()
    first = np.bincount(orders[:, 0].numpy(), minlength=4) / n
    assert (np.abs(first - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)).all()


def test_the_device_composite_keeps_exactly_the_foreground(photos):
    """The workers leave the crop alone and ship the mask window; the device's composite is the crop, bit for
    bit, or the plan's gray level at every pixel, and the reference's composite (OpenCV's resize of the same
    window) at all but a few pixels along the object's edge."""
    _, fast = _datasets(photos, "COPY_PASTE.PROB", "1.0")
    composites, status = _composited(fast)
    assert (status == PasteOutcome.PASTED).all()
    for i in range(len(fast)):
        crop, plan, size = rd.read_crop(fast.path(i), lambda s, i=i: fast.plan(i, s), fast.planner.size)
        assert np.array_equal(fast[i].image, crop)  # not composited by the worker
        foreground = binarize(crop_mask(fast.masks.load(i, size), plan.box, fast.planner.size), 0.5)[..., None]
        assert 0 < foreground.sum() < foreground.size
        level = plan.paste.background.level
        out = composites[i].permute(1, 2, 0).numpy()
        assert ((out == crop).all(-1) | (out == level).all(-1)).all()
        assert (out == np.where(foreground, crop, level)).all(-1).mean() > 0.995, i


def test_samples_depend_on_seed_epoch_index_only(photos):
    _, fast = _datasets(photos, "COPY_PASTE.PROB", "0.5")
    fast.set_epoch(3)
    alone = [fast[i] for i in range(len(fast))]
    torch.rand(7)  # the caller's stream does not matter
    batches = list(DataLoader(fast, batch_size=4, num_workers=2, collate_fn=WorkerBatch.pack))
    images = torch.cat([b.image for b in batches])
    assert torch.equal(images, torch.from_numpy(np.stack([x.image for x in alone])))
    assert torch.equal(
        torch.cat([b.floats for b in batches]),
        torch.from_numpy(photometric_columns([x.photometric for x in alone])[1]),
    )
    fast.set_epoch(4)
    assert not np.array_equal(fast[5].image, alone[5].image)


def test_unreadable_images_are_named_or_skipped(photos, tmp_path):
    root = tmp_path / "images"
    os.makedirs(root / "a")
    for k, path in enumerate(sorted((photos / "images" / "b").iterdir())[:3]):
        (root / "a" / f"{k}.jpg").write_bytes(path.read_bytes())
    data = (root / "a" / "1.jpg").read_bytes()
    (root / "a" / "1.jpg").write_bytes(data[: len(data) // 3])  # a header, then a truncated scan
    cfg = load_config("", ["INPUT.BACKEND", "gpu"])
    with pytest.raises(BadImageError, match=r"a/1\.jpg"):
        build_train_dataset(cfg, str(root))[1]
    cfg = load_config("", ["INPUT.BACKEND", "gpu", "DATA.SKIP_BAD_IMAGES", "True"])
    items = build_train_dataset(cfg, str(root)).__getitems__([1, 2])  # the old "next file" gave 2 twice
    assert [item.index for item in items] == [0, 2] and items[0].bad == str(root / "a" / "1.jpg")


def test_unknown_backend_is_named(photos):
    with pytest.raises(ValueError, match="INPUT.BACKEND"):
        build_train_dataset(load_config("", ["INPUT.BACKEND", "tpu"]), str(photos / "images"))


def test_fast_path_trains_and_resumes_bit_identically(embedded_cache, tmp_path):
    opts = ("INPUT.BACKEND", "gpu", "COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "true", "SOLVER.EPOCHS", "1")
    whole, result = train(tiny_config(embedded_cache, str(tmp_path / "whole"), *opts, "TEST.LINEAR_PROBE", "True"))
    assert result["epochs"] == 1 and "knn_top1" in result and "linear_top1" in result
    cfg = tiny_config(embedded_cache, str(tmp_path / "split"), *opts)
    _, first = train(cfg, stop_at_step=2)
    assert first["interrupted"] and last_checkpoint(cfg.OUTPUT_DIR)
    resumed, _ = train(cfg, resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(whole.criterion.bank.features, resumed.criterion.bank.features)


def test_bounded_masks_paste_as_the_full_size_masks_on_both_paths(photos, tmp_path):
    """Masks stored at 128 px (tools/saliency.py --mask-size 128): both executors paste the same samples,
    within the usual pixel tolerance of each other, and the fast crop's foreground is the full-size mask's
    but for its edge."""
    for src in glob.glob(str(photos / "masks" / "*" / "*.png")):
        mask = cv2.imread(src, cv2.IMREAD_UNCHANGED)
        size = bounded_size((mask.shape[1], mask.shape[0]), 128)
        dst = tmp_path / os.path.relpath(src, photos / "masks")
        os.makedirs(dst.parent, exist_ok=True)
        cv2.imwrite(str(dst), cv2.resize(mask, size, interpolation=cv2.INTER_AREA))
    ref, fast = _datasets(photos, "COPY_PASTE.PROB", "1.0", "COPY_PASTE.MASK_ROOT", str(tmp_path))
    _, exact = _datasets(photos, "COPY_PASTE.PROB", "1.0")
    std = torch.tensor(load_config("", []).INPUT.STD).view(3, 1, 1)
    batch = _finish(fast, [fast[i] for i in range(len(fast))])
    for i in range(len(fast)):
        expected = ref[i]
        assert int(batch["pasted"][i]) == expected["pasted"] == 1
        assert ((batch["image"][i] - expected["image"]) * std).abs().mean() / LEVEL < 3.5
    same = (_composited(fast)[0] == _composited(exact)[0]).all(1).float().mean((1, 2))
    assert (same > 0.95).all(), same  # the same pixels but along the object's edge


def test_paste_rows_composites_the_rows_with_foreground_and_names_the_others():
    """Rows 0, 2, 3 to paste: 0 has foreground in its crop (pasted on its gray tile), 2 none but elsewhere in
    its mask, 3 none at all; row 1 is untouched, as are 2 and 3. A rendered tile is pasted as it is."""
    crops = torch.arange(4 * 3 * 4 * 4, dtype=torch.float32).view(4, 3, 4, 4)
    before = crops.clone()
    foreground = torch.zeros(3, 1, 4, 4, dtype=torch.bool)
    foreground[0, 0, :2] = True
    tiles = torch.tensor([7, 8, 9], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 1, 3)
    rows, whole, blur = torch.tensor([0, 2, 3]), torch.tensor([True, True, False]), torch.zeros(3, dtype=torch.bool)
    status = batched.paste_rows(crops, rows, foreground, whole, tiles, blur, 2.0)
    assert status.tolist() == [PasteOutcome.PASTED, PasteOutcome.CROP_WITHOUT_FOREGROUND, PasteOutcome.EMPTY]
    assert torch.equal(crops[0, :, :2], before[0, :, :2]) and (crops[0, :, 2:] == 7).all()
    assert torch.equal(crops[1:], before[1:])
    texture = torch.randint(0, 256, (1, 4, 4, 3), dtype=torch.uint8)
    status = batched.paste_rows(crops, rows[:1], foreground[:1], whole[:1], texture, blur[:1], 2.0)
    assert torch.equal(crops[0, :, 2:], texture[0].permute(2, 0, 1)[:, 2:].float())


def test_a_workers_batch_is_a_few_tensors_with_its_mask_windows_padded():
    """Rows 1 and 2 to paste on gray levels 5 and 9: their windows zero-padded into one tensor, their sizes, flags
    and levels in named columns, no tiles; a rendered background ships as a tile."""

    def sample(k, paste, outcome=PasteOutcome.PASTED):
        photometric = Photometric(k == 1, (3, 2, 1, 0), (1.1, None, 0.9, 0.1), k == 2, 0.5 * k)
        return FastSample(np.full((2, 2, 3), k, np.uint8), k, 10 + k, "", outcome, photometric, paste)

    windows = [np.full((3, 5), 200, dtype=np.uint8), np.full((4, 2), 100, dtype=np.uint8)]
    windows[0].flags.writeable = False  # a mask pack's pages
    jobs = [PasteJob(windows[0], True, GRAY_TILES[5], False), PasteJob(windows[1], False, GRAY_TILES[9], True)]
    batch = WorkerBatch.pack([sample(0, None, PasteOutcome.KEPT), sample(1, jobs[0]), sample(2, jobs[1])])
    assert len(batch) == 6 and batch.image.shape == (3, 2, 2, 3)
    columns = ("index", "label", "outcome", "to_paste", "mask_height", "mask_width", "whole", "blur", "gray_level")
    rows = torch.stack([batch.column(name) for name in columns], 1).tolist()
    assert rows == [
        [0, 10, PasteOutcome.KEPT, 0, 0, 0, 0, 0, 0],
        [1, 11, 2, 1, 3, 5, 1, 0, 5],
        [2, 12, 2, 1, 4, 2, 0, 1, 9],
    ]
    masks = batch.masks
    assert masks.shape == (2, 4, 5) and int(masks[0].sum()) == 200 * 15 and int(masks[1, :, 2:].sum()) == 0
    assert batch.tiles.shape == (0, 1, 1, 3)
    params = batch.photometric()
    assert params["gray"].tolist() == [False, True, False] and params["flip"].tolist() == [False, False, True]
    assert params["order"][0].tolist() == [3, 2, 1, 0] and params["blur"].tolist() == [0.0, 0.5, 1.0]
    assert torch.allclose(params["factors"][0], torch.tensor([1.1, 1.0, 0.9, 0.1]))  # identity where skipped
    texture = np.zeros((2, 2, 3), np.uint8)
    rendered = WorkerBatch.pack([sample(0, PasteJob(windows[1], True, texture, False))])
    assert rendered.tiles.shape == (1, 2, 2, 3)
    empty = WorkerBatch.pack([sample(0, None, PasteOutcome.KEPT)])
    assert empty.masks.numel() == 0 and len(empty.rows_to_paste()) == 0
    assert batch.rows_to_paste().tolist() == [1, 2]
