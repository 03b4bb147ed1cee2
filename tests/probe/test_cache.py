"""The feature cache: keyed by backbone, images and transform; reread instead of recomputed; corrupt entries named."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from pretrain.data.labeled import LabeledImages
from pretrain.probe import cache, protocol
from pretrain.probe.defaults import get_probe_cfg
from pretrain.probe.launch import probe_model
from pretrain.probe.transforms import probe_test_transform, probe_train_transform

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    paths = [f"c{i % 2}/{i}.png" for i in range(6)]
    for p in paths:
        os.makedirs(tmp_path / "img" / os.path.dirname(p), exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 44, 3), np.uint8)).save(tmp_path / "img" / p)
    cfg = get_probe_cfg()
    cfg.merge_from_list(["INPUT.SIZE", 32, "INPUT.TEST_RESIZE", 36, "DATA.NUM_WORKERS", 0, "TEST.IMS_PER_BATCH", 4,
                         "MODEL.WEIGHTS", "random", "MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", 0.125,
                         "FEATURES.CACHE_DIR", str(tmp_path / "cache")])  # fmt: skip
    ds = LabeledImages(str(tmp_path / "img"), paths, [i % 2 for i in range(6)], ["c0", "c1"], probe_test_transform(cfg))
    return cfg, ds, probe_model(cfg, torch.device("cpu"))


def test_rerun_reads_the_cache(setup, monkeypatch):
    cfg, ds, net = setup
    first = cache.features(net, ds, cfg, torch.device("cpu"))
    assert first["features"].shape == (6, 1, net.backbone.out_channels) and first["features"].dtype == torch.float16
    with torch.no_grad():
        direct = net.backbone(ds[3]["image"][None])[0]
    assert torch.allclose(first["features"][3, 0].float(), direct, rtol=1e-2, atol=1e-3)
    monkeypatch.setattr(cache, "gather_outputs", lambda *a, **k: pytest.fail("extracted again"))
    again = cache.features(net, ds, cfg, torch.device("cpu"))
    assert torch.equal(first["features"], again["features"]) and torch.equal(again["labels"], ds.labels)


def test_key_follows_transform_view_and_backbone(setup):
    cfg, ds, net = setup
    center = cache.cache_key(net, ds, cfg, augmented=False)
    ds.transform = probe_test_transform(cfg, ten_crop=True)
    assert cache.cache_key(net, ds, cfg, False) != center
    ds.transform = probe_train_transform(cfg)
    view1 = cache.cache_key(net, ds, cfg, True)
    ds.set_epoch(2)
    assert cache.cache_key(net, ds, cfg, True) != view1
    cfg.SEED = 1
    assert cache.cache_key(probe_model(cfg, torch.device("cpu")), ds, cfg, True) != cache.cache_key(net, ds, cfg, True)


def test_ten_crop_features_and_corrupt_entries(setup):
    cfg, ds, net = setup
    ds.transform = probe_test_transform(cfg, ten_crop=True)
    assert cache.features(net, ds, cfg, torch.device("cpu"))["features"].shape[:2] == (6, 10)
    path = cache.cache_path(cfg.FEATURES.CACHE_DIR, cache.cache_key(net, ds, cfg, False))
    with open(path, "wb") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError, match=f"feature cache '{path}' is corrupt"):
        cache.features(net, ds, cfg, torch.device("cpu"))


def test_key_follows_every_input_setting_also_under_ten_crops(setup):
    cfg, ds, net = setup
    ds.transform = probe_test_transform(cfg, ten_crop=True)
    before = cache.cache_key(net, ds, cfg, False)
    cfg.INPUT.MEAN = (0.5, 0.5, 0.5)
    ds.transform = probe_test_transform(cfg, ten_crop=True)  # the normalization sits inside the crop stacking
    assert "0.5" in repr(ds.transform)
    assert cache.cache_key(net, ds, cfg, False) != before
    shown = cache.cache_key(net, ds, cfg, False)
    cfg.INPUT.HFLIP_PROB = 0.25  # a setting this transform does not show: still part of the key
    assert cache.cache_key(net, ds, cfg, False) != shown


def test_photos_replaced_under_the_same_names_are_extracted_again(setup, tmp_path):
    cfg, ds, net = setup
    first = cache.features(net, ds, cfg, torch.device("cpu"))
    rng = np.random.default_rng(1)
    for i, path in enumerate(ds.paths):
        if ds.labels[i] == 1:  # replace class c1's photos, same names and size
            full = tmp_path / "img" / path
            Image.fromarray(rng.integers(0, 255, (40, 44, 3), np.uint8)).save(full)
            os.utime(full, ns=(os.stat(full).st_atime_ns, os.stat(full).st_mtime_ns + 10**9))
    again = cache.features(net, ds, cfg, torch.device("cpu"))
    replaced = ds.labels == 1
    assert torch.equal(again["features"][~replaced], first["features"][~replaced])
    assert not torch.equal(again["features"][replaced], first["features"][replaced])


def test_full_protocol_trains_at_the_cached_validation_precision(setup):
    cfg, ds, net = setup
    cfg.SOLVER.IMS_PER_BATCH = 4
    ds.transform = probe_train_transform(cfg)
    batches, _ = protocol.image_batches(net, ds, cfg, torch.device("cpu"))
    x, _ = next(iter(batches(0)))
    val = cache.features(net, ds, cfg, torch.device("cpu"))
    assert x.dtype == torch.float32 and val["features"].dtype == cache.FEATURE_DTYPE
    assert torch.equal(x, x.to(cache.FEATURE_DTYPE).float())  # rounded as the validation rows are
