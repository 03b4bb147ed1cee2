"""The labeled dataset of every evaluation: labels from class folders, flat folders unlabeled, masks checked."""

import cv2
import numpy as np
import pytest

from pretrain.data.labeled import UNLABELED, LabeledImages


def write(path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_labels_from_class_folders_and_flat_folders(tmp_path):
    for rel in ("b/1.png", "a/x/2.png", "a/3.png"):
        write(tmp_path / "tree" / rel, np.zeros((4, 4, 3), np.uint8))
    tree = LabeledImages.from_folder(str(tmp_path / "tree"))
    assert tree.classes == ["a", "b"] and tree.labeled
    assert dict(zip(tree.paths, tree.labels.tolist(), strict=True)) == {"a/3.png": 0, "a/x/2.png": 0, "b/1.png": 1}
    sub = tree.subset([2, 0])
    assert sub.paths == [tree.paths[2], tree.paths[0]] and sub.classes == tree.classes
    write(tmp_path / "flat" / "1.jpg", np.zeros((4, 4, 3), np.uint8))
    flat = LabeledImages.from_folder(str(tmp_path / "flat"))
    assert not flat.labeled and flat.labels.tolist() == [UNLABELED]


def test_masks_mirror_the_tree_and_must_match(tmp_path):
    write(tmp_path / "img" / "a.jpg", np.full((6, 8, 3), 9, np.uint8))
    write(tmp_path / "img" / "b.jpg", np.full((6, 8, 3), 9, np.uint8))
    write(tmp_path / "masks" / "a.png", np.full((6, 8), 255, np.uint8))
    write(tmp_path / "masks" / "b.png", np.full((4, 4), 255, np.uint8))  # 4x3 would be the image's, bounded
    images = LabeledImages.from_folder(str(tmp_path / "img"))
    image, mask = images.with_mask(0, str(tmp_path / "masks"))
    assert image.shape == (6, 8, 3) and mask.shape == (6, 8) and (mask == 255).all()
    with pytest.raises(ValueError, match=r"b\.png' is 4x4, its image 8x6"):
        images.with_mask(1, str(tmp_path / "masks"))
    with pytest.raises(FileNotFoundError, match=r"nomasks/a\.png"):
        images.with_mask(0, str(tmp_path / "nomasks"))
