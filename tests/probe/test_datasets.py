"""The probe's data sources: Places205 list files, torchvision's Places365 layout, real list files, any folder."""

import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from pretrain.data.labeled import LabeledImages
from pretrain.probe.datasets import build_probe_datasets, folder_split, list_split, places365_split, probe_split
from pretrain.probe.defaults import get_probe_cfg
from pretrain.probe.transforms import probe_test_transform, probe_train_transform
from tests.conftest import shared_data


def _image(path, value=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((40, 50, 3), value, np.uint8)).save(path)


def _write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_places205_lists_keep_their_labels_and_name_classes_by_folder(tmp_path):
    images = tmp_path / "data/vision/torralba/deeplearning/images256"
    rel = ["a/abbey/gsun_1.jpg", "a/abbey/gsun_2.jpg", "b/bus_interior/gsun_3.jpg", "c/coast/gsun_4.jpg"]
    for i, r in enumerate(rel):
        _image(str(images / r), i)
    split = tmp_path / "trainvalsplit_places205"
    _write(str(split / "train_places205.csv"), [f"{rel[0]} 0", f"{rel[2]} 1", f"{rel[3]} 2"])
    _write(str(split / "val_places205.csv"), [f"{rel[1]} 0", f"{rel[3]} 2"])
    root, paths, labels, classes = list_split(str(images), str(split / "train_places205.csv"))
    assert (root, paths, labels) == (str(images), [rel[0], rel[2], rel[3]], [0, 1, 2])
    assert classes == ["abbey", "bus_interior", "coast"]
    _, vpaths, vlabels, vclasses = list_split(str(images), str(split / "val_places205.csv"), classes)
    assert (vpaths, vlabels, vclasses) == ([rel[1], rel[3]], [0, 2], classes)
    ds = LabeledImages(root, paths, labels, classes, probe_test_transform(_small_cfg()))
    assert ds[2]["label"] == 2 and ds[2]["image"].shape == (3, 32, 32)


def test_places365_torchvision_layout(tmp_path):
    _write(str(tmp_path / "categories_places365.txt"), ["/a/airfield 0", "/a/alley 1", "/b/bakery/shop 2"])
    _write(str(tmp_path / "places365_train_standard.txt"), ["/a/alley/00000001.jpg 1", "/b/bakery/shop/00000002.jpg 2"])
    _write(str(tmp_path / "places365_val.txt"), ["Places365_val_00000001.jpg 2", "Places365_val_00000002.jpg 0"])
    for r in ("a/alley/00000001.jpg", "b/bakery/shop/00000002.jpg"):
        _image(str(tmp_path / "data_256_standard" / r))
    for r in ("Places365_val_00000001.jpg", "Places365_val_00000002.jpg"):
        _image(str(tmp_path / "val_256" / r))
    root, paths, labels, classes = places365_split(str(tmp_path), "train-standard")
    assert root == str(tmp_path / "data_256_standard")
    assert (paths, labels) == (["a/alley/00000001.jpg", "b/bakery/shop/00000002.jpg"], [1, 2])
    assert classes == ["a/airfield", "a/alley", "b/bakery/shop"]
    cfg = _small_cfg(
        "DATA.SOURCE", "places365", "DATA.ROOT", str(tmp_path), "DATA.TRAIN_ROOT", "train-standard",
        "DATA.VAL_ROOT", "val",
    )  # fmt: skip
    root, paths, labels, _ = probe_split(cfg, "val")
    assert (root, labels) == (str(tmp_path / "val_256"), [2, 0])
    assert os.path.isfile(os.path.join(root, paths[0]))
    with pytest.raises(FileNotFoundError, match="val_large"):  # the full-size images are another folder
        places365_split(str(tmp_path), "val", small=False)
    with pytest.raises(ValueError, match="split 'test'"):
        places365_split(str(tmp_path), "test")


def test_list_errors_name_the_file_and_line(tmp_path):
    _image(str(tmp_path / "img/x/1.jpg"))
    _write(str(tmp_path / "bad.txt"), ["x/1.jpg 0", "x/1.jpg zero"])
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'path \[integer label\]'"):
        list_split(str(tmp_path / "img"), str(tmp_path / "bad.txt"))
    _write(str(tmp_path / "wrong_root.txt"), ["y/2.jpg 0"])
    with pytest.raises(FileNotFoundError, match="lists 'y/2.jpg'"):
        list_split(str(tmp_path / "img"), str(tmp_path / "wrong_root.txt"))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        list_split(str(tmp_path / "img"), str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="DATA.TRAIN_ROOT is empty"):
        probe_split(_small_cfg("DATA.SOURCE", "folder"), "train")


def test_list_paths_stay_below_their_root(tmp_path):
    """A leading "/" is dropped (Places365's lists), ``./`` normalized; a path that leaves the root is refused."""
    _image(str(tmp_path / "img/x/1.jpg"))
    _image(str(tmp_path / "secret/2.jpg"))
    _write(str(tmp_path / "ok.txt"), ["/x/1.jpg", "./x/./1.jpg"])
    assert list_split(str(tmp_path / "img"), str(tmp_path / "ok.txt"))[1:] == (["x/1.jpg", "x/1.jpg"], [0, 0], ["x"])
    for bad in ("../secret/2.jpg", "x/../../secret/2.jpg", "/../secret/2.jpg", ".."):
        _write(str(tmp_path / "escape.txt"), ["x/1.jpg 0", f"{bad} 0"])
        with pytest.raises(ValueError, match=rf"escape.txt:2: path '{re.escape(bad)}' is not below the root"):
            list_split(str(tmp_path / "img"), str(tmp_path / "escape.txt"))


def test_folder_validation_takes_the_training_classes(tmp_path):
    """A validation class that training lacks is an error naming it; one that validation lacks is fine."""
    for rel in ("train/a/1.jpg", "train/b/1.jpg", "train/c/1.jpg", "val/c/1.jpg", "val/.ipynb_checkpoints/1.jpg"):
        _image(str(tmp_path / rel))
    os.makedirs(tmp_path / "val" / "b")  # empty: no class
    cfg = _small_cfg("DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", str(tmp_path / "train"),
                     "DATA.VAL_ROOT", str(tmp_path / "val"))  # fmt: skip
    train, val = build_probe_datasets(cfg, None, None)
    assert train.classes == val.classes == ["a", "b", "c"] and val.labels.tolist() == [2]
    assert folder_split(str(tmp_path / "val"))[2:] == ([0], ["c"])  # its own class list would shift the label
    _image(str(tmp_path / "val/d/1.jpg"))
    with pytest.raises(ValueError, match=rf"'{tmp_path}/val' has classes that the 3 training classes lack: \['d'\]"):
        build_probe_datasets(cfg, None, None)


def test_caltech20_lists_without_labels_take_the_class_from_the_folder():
    src = shared_data("caltech20")
    root, paths, labels, classes = list_split(os.path.join(src, "101_ObjectCategories"), os.path.join(src, "train.txt"))
    assert len(paths) == 800 and len(classes) == 20 and classes == sorted(classes)
    assert all(classes[lab] == p.split("/")[0] for p, lab in zip(paths, labels, strict=True))
    _, test_paths, test_labels, test_classes = list_split(root, os.path.join(src, "test.txt"), classes)
    assert len(test_paths) == 400 and test_classes == classes
    assert not set(paths) & set(test_paths)
    assert np.bincount(test_labels).tolist() == [20] * 20


def test_folder_split_and_seeded_augmentations():
    root, paths, labels, classes = folder_split(shared_data("scenes15", "train"))
    assert len(paths) == 600 and len(classes) == 15
    ds = LabeledImages(root, paths, labels, classes, probe_train_transform(_small_cfg()), seed=3)
    a, b = ds[7]["image"], ds[7]["image"]
    assert torch.equal(a, b)  # a sample's crop is a function of (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(a, ds[7]["image"])
    assert ds[7]["image"].shape == (3, 32, 32)


def test_ten_crop_stacks_normalized_crops():
    cfg = _small_cfg()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8))
    crops = probe_test_transform(cfg, ten_crop=True)(img)
    assert crops.shape == (10, 3, 32, 32)
    assert torch.allclose(crops[4], probe_test_transform(cfg)(img))  # torchvision's order: 4 corners, center, flips
    assert torch.allclose(crops[9], crops[4].flip(-1))


def _small_cfg(*opts):
    cfg = get_probe_cfg()
    cfg.merge_from_list(["INPUT.SIZE", 32, "INPUT.TEST_RESIZE", 36, *opts])
    return cfg
