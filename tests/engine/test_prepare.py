"""The run's setup makes the embedded set's masks with the saliency tool's function; the data layer only reads them."""

import os

import pytest

from pretrain.data import build_train_dataset, dataset_roots
from pretrain.engine import prepare_embedded
from pretrain.saliency import small_image_options
from pretrain.saliency.batch import compute_masks
from pretrain.utils import provenance
from tests.conftest import tiny_config


def test_the_setup_computes_the_embedded_masks_not_the_data_layer(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one process: no worker pool to start for 16 small images
    opts = ("COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "gs", "DATA.EMBEDDED.TRAIN_PER_CLASS", "4")
    cfg = tiny_config(str(tmp_path / "cache"), str(tmp_path / "out"), *opts)
    train_root = dataset_roots(cfg)[0]
    masks = os.path.join(os.path.dirname(train_root), "masks_gs", "train")
    with pytest.raises(FileNotFoundError, match=r"masks_gs.*tools/saliency\.py .*--small-images"):
        build_train_dataset(cfg, train_root)  # reading, not computing
    assert not os.path.exists(masks)
    prepare_embedded(cfg)
    tool = compute_masks(train_root, str(tmp_path / "tool"), "gs", small_image_options("gs"), progress=False)
    assert tool.written == len(build_train_dataset(cfg, train_root)) == 16
    assert provenance.read(masks).fields == provenance.read(str(tmp_path / "tool")).fields
    for cls in (d for d in os.listdir(masks) if os.path.isdir(os.path.join(masks, d))):  # what tools/saliency.py
        for name in os.listdir(os.path.join(masks, cls)):  # --method gs --small-images writes, byte for byte
            with open(os.path.join(masks, cls, name), "rb") as a, open(tmp_path / "tool" / cls / name, "rb") as b:
                assert a.read() == b.read(), (cls, name)
