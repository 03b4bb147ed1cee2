import os

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pretrain.config import load_config
from pretrain.data import BadImageError, InstanceFolder, build_train_dataset
from tests.conftest import shared_data


def _folder(root, n_per_class=3, size=20):
    for c in ("cat", "dog"):
        os.makedirs(root / c)
        for i in range(n_per_class):
            Image.new("RGB", (size + i, size), (40 * i, 100, 200 if c == "dog" else 0)).save(root / c / f"{i}.png")
    return root


def test_labels_indices_and_classes(tmp_path):
    ds = InstanceFolder(str(_folder(tmp_path)))
    assert ds.classes == ["cat", "dog"] and len(ds) == 6
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    item = ds[4]
    assert item["index"] == 4 and item["label"] == 1 and item["bad"] == ""


def test_corrupt_image_error_names_the_file(tmp_path):
    _folder(tmp_path)
    (tmp_path / "dog" / "1.png").write_bytes(b"not a png")
    ds = InstanceFolder(str(tmp_path))
    with pytest.raises(BadImageError, match=r"dog/1\.png"):
        ds[4]
    # the message survives a DataLoader worker
    with pytest.raises(Exception, match=r"dog/1\.png"):
        list(DataLoader(ds, batch_size=6, num_workers=1))


def test_skip_bad_replaces_and_names_the_file(tmp_path):
    _folder(tmp_path)
    (tmp_path / "dog" / "1.png").write_bytes(b"")
    ds = InstanceFolder(str(tmp_path), skip_bad=True)
    item = ds[4]
    assert item["bad"] == str(tmp_path / "dog" / "1.png") and item["index"] != 4  # another image, its own index
    assert ds[4]["index"] == item["index"]  # drawn from (seed, epoch, index) ...
    drawn = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        drawn.add(ds[4]["index"])
    assert len(drawn) > 1 and 4 not in drawn  # ... not always the next file


def test_a_replacement_is_never_an_index_of_the_same_batch(tmp_path):
    _folder(tmp_path, n_per_class=4)
    for name in ("cat/1.png", "cat/2.png"):
        (tmp_path / name).write_bytes(b"")
    ds = InstanceFolder(str(tmp_path), transform=lambda img: torch.zeros(1), skip_bad=True)
    # Indices 1 and 2 are broken; their neighbour 3 is in the batch (the old "next file" gave 3 three times).
    for seed in range(10):
        ds.seed = seed
        (batch,) = DataLoader(ds, batch_size=4, sampler=[1, 2, 3, 0])
        index = batch["index"].tolist()
        assert len(set(index)) == 4 and index[2:] == [3, 0] and not {1, 2} & set(index), seed
        assert batch["bad"] == [str(tmp_path / "cat" / "1.png"), str(tmp_path / "cat" / "2.png"), "", ""]


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        InstanceFolder(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        InstanceFolder(str(tmp_path))


def test_augmentations_are_a_function_of_seed_epoch_index(tmp_path):
    cfg = load_config("", ["INPUT.SIZE", "16"])
    ds = build_train_dataset(cfg, str(_folder(tmp_path)))
    a = ds[2]["image"]
    torch.rand(5)  # the caller's random stream does not matter ...
    assert torch.equal(ds[2]["image"], a)
    state = torch.get_rng_state()
    ds[3]
    assert torch.equal(torch.get_rng_state(), state)  # ... and is left untouched
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["image"], a)


def test_real_photos_grayscale_included():
    root = shared_data("caltech20", "101_ObjectCategories")
    ds = InstanceFolder(root)
    assert len(ds.classes) == 20 and len(ds) == 1200
    gray = ds.classes.index("car_side")
    img = Image.open(ds.path(int((ds.labels == gray).nonzero()[0])))
    assert img.mode == "L"  # stored grayscale ...
    assert ds[int((ds.labels == gray).nonzero()[0])]["image"].mode == "RGB"  # ... served as RGB
