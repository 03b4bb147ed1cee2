import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pretrain.data import EmbeddedSpec, ensure_embedded
from pretrain.data.embedded import class_names

SPEC = EmbeddedSpec(num_classes=4, train_per_class=6, val_per_class=2, image_size=32, num_backgrounds=3, seed=5)


def test_layout_masks_and_cache(tmp_path):
    root = ensure_embedded(SPEC, str(tmp_path))
    assert sorted(os.listdir(os.path.join(root, "train"))) == class_names(4)
    img = np.asarray(Image.open(os.path.join(root, "train", "02_triangle", "00003.png")))
    mask = np.asarray(Image.open(os.path.join(root, "masks", "train", "02_triangle", "00003.png")))
    assert img.shape == (32, 32, 3) and mask.shape == (32, 32)
    assert set(np.unique(mask)) == {0, 255}
    assert 0.05 < (mask > 0).mean() < 0.5  # an object, not the whole frame
    mtime = os.path.getmtime(os.path.join(root, "spec.json"))
    assert ensure_embedded(SPEC, str(tmp_path)) == root  # cached: not written again
    assert os.path.getmtime(os.path.join(root, "spec.json")) == mtime


def test_deterministic_and_parameterized(tmp_path):
    a = ensure_embedded(SPEC, str(tmp_path / "a"))
    b = ensure_embedded(SPEC, str(tmp_path / "b"))
    f = os.path.join("val", "01_square", "00001.png")
    assert Path(a, f).read_bytes() == Path(b, f).read_bytes()
    other = ensure_embedded(EmbeddedSpec(**{**SPEC.__dict__, "seed": 6}), str(tmp_path / "a"))
    assert other != a


def test_objects_are_class_coloured_and_backgrounds_shared(tmp_path):
    root = ensure_embedded(SPEC, str(tmp_path))

    def load(split, cls, i):
        img = np.asarray(Image.open(os.path.join(root, split, cls, f"{i:05d}.png"))).astype(float)
        mask = np.asarray(Image.open(os.path.join(root, "masks", split, cls, f"{i:05d}.png"))) > 0
        return img, mask

    names = class_names(4)
    fg = {c: np.mean([load("train", c, i)[0][load("train", c, i)[1]].mean(0) for i in range(6)], 0) for c in names}
    # objects of one class look alike, different classes differ
    within = np.mean([np.abs(load("train", c, 0)[0][load("train", c, 0)[1]].mean(0) - fg[c]).sum() for c in names])
    between = np.mean([np.abs(fg[a] - fg[b]).sum() for a in names for b in names if a != b])
    assert between > 3 * within
    # backgrounds carry no class: their mean colour varies as much within a class as across
    bg = np.array([[load("train", c, i)[0][~load("train", c, i)[1]].mean(0) for i in range(6)] for c in names])
    assert bg.mean(1).std(0).mean() < bg.std(1).mean(0).mean()


def test_the_default_set_is_the_one_it_was():
    """CLASS_BACKGROUNDS 0 draws as the set always has: the same fingerprint (caches and run records stay
    valid) and the same images (on a pool of plain grays, so that only the draws are checked)."""
    from pretrain.data.embedded import render

    assert EmbeddedSpec().fingerprint() == "d411efb802e7" and SPEC.fingerprint() == "4a4dc99369ec"
    pool = np.stack([np.full((48, 48, 3), k / 10, np.float32) for k in range(8)])
    digest = hashlib.sha1()
    for label in range(4):
        for i in range(5):
            digest.update(render(SPEC, "train", label, i, pool)[0].tobytes())
    assert digest.hexdigest()[:16] == "5d6a4da6227f34a1"


@pytest.mark.parametrize("share", [0.0, 0.8, 1.0])
def test_class_backgrounds_come_from_the_class_part_of_the_pool(share):
    """Background k of a pool of 8 is uniform gray k / 10, so an image's background names its pool index: class c
    owns backgrounds c and c + 4; a share s of its images take one of them, the rest any of the 8 (2 of them its
    own): s + (1 - s) / 4 of its images show an own background."""
    from pretrain.data.embedded import render

    spec = EmbeddedSpec(num_classes=4, image_size=32, num_backgrounds=8, class_backgrounds=share)
    pool = np.stack([np.full((48, 48, 3), k / 10, np.float32) for k in range(8)])
    own = []
    for label in range(4):
        for i in range(100):
            image, mask = render(spec, "train", label, i, pool)
            k = round(image[mask == 0].mean() / 25.5)  # one gray level everywhere off the object
            own.append(k % 4 == label)
    assert abs(np.mean(own) - (share + (1 - share) / 4)) < 0.07  # 400 draws: 3.5 standard errors at most


def test_class_backgrounds_need_a_background_per_class(tmp_path):
    spec = EmbeddedSpec(**{**SPEC.__dict__, "class_backgrounds": 0.8})  # 3 backgrounds, 4 classes
    with pytest.raises(ValueError, match="NUM_BACKGROUNDS is 3, DATA.EMBEDDED.NUM_CLASSES 4"):
        ensure_embedded(spec, str(tmp_path))
