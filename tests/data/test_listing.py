"""Listing labeled folders: which sub-folders are classes, whose class list labels validation, one mask per image."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from pretrain.config import load_config
from pretrain.data import build_eval_dataset
from pretrain.data.image_folder import InstanceFolder
from pretrain.data.labeled import LabeledImages, find_images
from pretrain.data.masks import MaskFolder


def write(path, value: int = 0, channels: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((6, 8, channels) if channels > 1 else (6, 8), value, np.uint8))


def cluttered(root, classes=("a", "b")):
    """``root/<class>/1.png`` for ``classes``, plus what is no class: a hidden folder holding an image, an empty
    folder, a folder of text files, a hidden image and an image directly in ``root``."""
    for name in classes:
        write(root / name / "1.png")
        write(root / name / ".1.png")
    write(root / ".ipynb_checkpoints" / "1-checkpoint.png")
    (root / "aa_empty").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not an image")
    write(root / "top.png")
    return str(root)


def test_hidden_empty_and_imageless_folders_are_no_classes(tmp_path, caplog):
    root = cluttered(tmp_path / "train")
    with caplog.at_level("INFO", logger="pretrain"):
        paths, labels, classes = find_images(root)
    assert (paths, labels, classes) == (["a/1.png", "b/1.png"], [0, 1], ["a", "b"])
    assert "['.ipynb_checkpoints', 'aa_empty', 'notes']" in caplog.text  # the left-out folders, named
    images = LabeledImages.from_folder(str(tmp_path / "train" / "a"))  # flat: unlabeled, hidden image skipped
    assert images.paths == ["1.png"] and not images.labeled
    os.remove(tmp_path / "train" / "top.png")
    tree = LabeledImages.from_folder(root)
    assert (tree.paths, tree.labels.tolist(), tree.classes) == (["a/1.png", "b/1.png"], [0, 1], ["a", "b"])


def test_validation_is_labeled_with_the_training_classes(tmp_path):
    train = InstanceFolder(cluttered(tmp_path / "train", ("a", "b", "c")))
    val_root = cluttered(tmp_path / "val", ("b", "c"))  # a training class absent from validation is fine
    os.remove(tmp_path / "val" / "top.png")  # (from_folder takes a folder with images at its top as unlabeled)
    for val in (
        InstanceFolder(val_root, classes=train.classes),
        LabeledImages.from_folder(val_root, classes=train.classes),
    ):
        assert val.classes == ["a", "b", "c"] and val.labels.tolist() == [1, 2], type(val)
    assert find_images(val_root)[1:] == ([0, 1], ["b", "c"])  # its own list would shift the labels
    write(tmp_path / "val" / "d" / "1.png")
    write(tmp_path / "val" / "e" / "1.png")
    message = rf"'{val_root}' has classes that the 3 training classes lack: \['d', 'e'\]"
    with pytest.raises(ValueError, match=message):
        InstanceFolder(val_root, classes=train.classes)
    with pytest.raises(ValueError, match=r"lack: \['d', 'e'\]"):
        LabeledImages.from_folder(val_root, classes=train.classes)


def test_the_monitors_validation_set_takes_the_training_classes(tmp_path):
    cfg = load_config("", ["INPUT.SIZE", "16", "DATA.TRAIN_ROOT", str(tmp_path / "train")])
    train = InstanceFolder(cluttered(tmp_path / "train", ("a", "b", "c")))
    val = build_eval_dataset(cfg, cluttered(tmp_path / "val", ("c",)), train.classes)
    assert val.classes == train.classes and val.labels.tolist() == [2] and val[0]["label"] == 2
    write(tmp_path / "val" / "z" / "1.png")
    with pytest.raises(ValueError, match=rf"'{tmp_path}/val' has classes that the 3 training classes lack: \['z'\]"):
        build_eval_dataset(cfg, str(tmp_path / "val"), train.classes)


def test_a_symlink_loop_lists_each_image_once(tmp_path):
    root = tmp_path / "train"
    for i in range(3):
        write(root / "a" / f"{i}.png")
    write(root / "b" / "0.png")
    os.symlink("..", root / "a" / "loop")  # train/a/loop -> train
    os.symlink(os.path.join("..", "b"), root / "a" / "again")  # a second way into b
    paths, labels, classes = find_images(str(root))
    assert paths == ["a/0.png", "a/1.png", "a/2.png", "a/again/0.png"] and classes == ["a"], paths
    os.remove(root / "a" / "again")
    paths, labels, classes = find_images(str(root))
    assert (paths, labels, classes) == (["a/0.png", "a/1.png", "a/2.png", "b/0.png"], [0, 0, 0, 1], ["a", "b"])


def test_images_sharing_a_stem_have_a_mask_each(tmp_path):
    """``x.jpg`` and ``x.png`` of one folder: masks ``x.jpg.png`` and ``x.png.png``; ``y.jpg`` keeps ``y.png``."""
    for name in ("x.jpg", "x.png", "y.jpg"):
        write(tmp_path / "img" / "c" / name)
    for name, value in (("x.jpg.png", 10), ("x.png.png", 20), ("y.png", 30), ("x.png", 99)):
        write(tmp_path / "masks" / "c" / name, value, channels=1)
    masks = str(tmp_path / "masks")
    folder = InstanceFolder(str(tmp_path / "img"))
    assert folder.paths == ["c/x.jpg", "c/x.png", "c/y.jpg"]
    mask_folder = MaskFolder(masks, folder.paths)
    assert [os.path.relpath(p, masks) for p in mask_folder.paths] == ["c/x.jpg.png", "c/x.png.png", "c/y.png"]
    assert [int(mask_folder.load(i, (8, 6)).max()) for i in range(3)] == [10, 20, 30]
    images = LabeledImages.from_folder(str(tmp_path / "img"))
    one = images.subset([1])  # a subset still names masks by the whole folder's listing
    assert int(one.with_mask(0, masks)[1].max()) == 20
    assert [int(images.with_mask(i, masks)[1].max()) for i in range(3)] == [10, 20, 30]
