"""Every method on hand-made images and on the 150 real SOD pairs."""

import os

import cv2
import numpy as np
import pytest

from pretrain.saliency import build_saliency, saliency_methods, small_image_options
from pretrain.saliency.metrics import SaliencyEvaluator
from tests.conftest import shared_data

CLASSIC = ["rbd", "gs", "mc"]


def _object_on_background(h=120, w=160):
    rng = np.random.default_rng(0)
    img = (rng.normal(110, 8, (h, w, 3))).clip(0, 255).astype(np.uint8)
    img[:, :, 1] = np.clip(img[:, :, 1].astype(int) + 40, 0, 255)  # a greenish, textured background
    yy, xx = np.mgrid[:h, :w]
    obj = (yy - h / 2) ** 2 / (h / 5) ** 2 + (xx - w / 2) ** 2 / (w / 6) ** 2 < 1
    img[obj] = (220, 40, 40)
    return img, obj


def test_registry_lists_the_methods():
    assert set(CLASSIC) <= set(saliency_methods())
    with pytest.raises(KeyError, match="unknown saliency method 'sr'"):
        build_saliency("sr")


def test_parameters_are_every_setting_as_resolved():
    """What a mask folder records of its method: the defaults, the options given, the superpixel cap."""
    rbd = build_saliency("rbd").parameters()
    assert rbd == {
        "pixels_per_superpixel": 600,
        "compactness": 20.0,
        "max_side": 240,
        "boundary_width": 8,
        "reference_side": 500,
        "min_superpixel_area": 40,
    }
    small = build_saliency("gs", **small_image_options("gs")).parameters()
    assert small == rbd | {"pixels_per_superpixel": 40, "boundary_width": 2}
    assert build_saliency("mc", max_side=320).parameters() == {
        "num_superpixels": 250,
        "compactness": 20.0,
        "max_side": 320,
    }


@pytest.mark.parametrize("name", CLASSIC)
def test_contract_and_a_clear_object(name):
    img, obj = _object_on_background()
    sal = build_saliency(name)(img)
    assert sal.shape == obj.shape and sal.dtype == np.float32
    assert sal.min() >= 0.0 and sal.max() <= 1.0
    assert sal[obj].mean() > 0.6 and sal[~obj].mean() < 0.15


@pytest.mark.parametrize("name", CLASSIC)
def test_degenerate_inputs(name):
    method = build_saliency(name)
    flat = method(np.full((50, 70, 3), 128, np.uint8))
    assert flat.shape == (50, 70) and np.isfinite(flat).all()
    assert method(np.zeros((7, 5, 3), np.uint8)).shape == (7, 5)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        method(np.zeros((50, 70), np.uint8))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        method(np.zeros((50, 70, 3), np.float32))


def _center_prior(shape):
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-(((yy - h / 2) / (0.25 * h)) ** 2 + ((xx - w / 2) / (0.25 * w)) ** 2) / 2)


@pytest.fixture(scope="module")
def sod():
    images, masks = shared_data("sod-dev", "images"), shared_data("sod-dev", "masks")
    names = sorted(os.listdir(images))
    pairs = []
    for name in names:
        img = cv2.cvtColor(cv2.imread(os.path.join(images, name)), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(os.path.join(masks, os.path.splitext(name)[0] + ".png"), cv2.IMREAD_GRAYSCALE)
        pairs.append((img, gt))
    assert len(pairs) == 150
    prior = SaliencyEvaluator()
    for _, gt in pairs:
        prior.update(_center_prior(gt.shape), gt)
    return pairs, prior.result()


@pytest.mark.parametrize("name", CLASSIC)
def test_beats_the_center_prior_on_real_images(name, sod):
    pairs, prior = sod
    method, ev = build_saliency(name), SaliencyEvaluator()
    for img, gt in pairs:
        ev.update(method(img), gt)
    r = ev.result()
    print(f"{name}: maxF {r['max_fbeta']:.3f} meanF {r['mean_fbeta']:.3f} MAE {r['mae']:.3f}")
    assert r["max_fbeta"] > prior["max_fbeta"] + 0.05
    assert r["mae"] < prior["mae"]
