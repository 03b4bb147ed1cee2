"""COPY_PASTE.MASK_PACK: the masks from one mapped file, the same values as their files, rebuilt when those change."""

from __future__ import annotations

import glob
import logging
import os
import pickle

import cv2
import numpy as np
import pytest

from pretrain.config import load_config
from pretrain.data import build_train_dataset, mask_pack
from pretrain.data.mask_pack import STAMP, stamp_of
from pretrain.data.masks import MaskFolder
from pretrain.saliency.batch import write_mask
from pretrain.utils.image_io import bounded_size
from tests.data.conftest import mask_tree


@pytest.fixture
def folder(tmp_path):
    """Five 40x30 images: masks stored bounded to 20 px, full size, 1-bit, none, and truncated (bad)."""
    _, masks = mask_tree(tmp_path, map(str, range(5)))
    rng = np.random.default_rng(0)
    write_mask(rng.random((30, 40)), str(masks / "0.png"), max_size=20)
    write_mask(rng.random((30, 40)), str(masks / "1.png"))
    cv2.imwrite(str(masks / "2.png"), (rng.random((30, 40)) > 0.5).astype(np.uint8) * 255, [cv2.IMWRITE_PNG_BILEVEL, 1])
    write_mask(rng.random((30, 40)), str(masks / "4.png"))
    (masks / "4.png").write_bytes((masks / "4.png").read_bytes()[:40])
    return tmp_path


def _masks(root) -> MaskFolder:
    masks = MaskFolder(str(root / "masks"), [f"a/{i}.jpg" for i in range(5)], allow_missing=True)
    masks.check(str(root / "images"), skip_bad=True)
    return masks


def _loads(masks: MaskFolder) -> list:
    return [(masks.load(i, stored=True), masks.load(i, (40, 30))) for i in range(5)]


def _same(a: list, b: list) -> bool:
    return all(
        (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))
        for pa, pb in zip(a, b, strict=True)
        for x, y in zip(pa, pb, strict=True)
    )


def test_packed_masks_read_as_their_files(folder):
    files, packed = _masks(folder), _masks(folder)
    assert packed.use_pack(str(folder / "pack"))
    assert packed.pack is not None and _same(_loads(files), _loads(packed))
    assert packed.load(0, stored=True).shape == (15, 20)  # bounded masks stay bounded in the pack
    assert packed.load(3) is None and packed.load(4) is None  # none; truncated (check counted it missing)
    assert os.path.getsize(folder / "pack" / "pixels.u8") == 15 * 20 + 2 * 30 * 40


def test_a_pack_is_rebuilt_when_a_mask_file_changes_and_never_read_stale(folder, caplog):
    first = _masks(folder)
    first.use_pack(str(folder / "pack"))
    built = stamp_of(str(folder / "pack"))
    mask = folder / "masks" / "a" / "1.png"
    cv2.imwrite(str(mask), np.full((30, 40), 7, np.uint8))
    os.utime(mask, ns=(1, 1))  # a new modification time, whatever the file system's clock resolution
    with caplog.at_level(logging.WARNING, logger="pretrain"):
        assert not _masks(folder).use_pack(str(folder / "pack"), build=False)  # stale: the files are read
    assert "does not match" in caplog.text
    fresh = _masks(folder)
    assert fresh.use_pack(str(folder / "pack")) and stamp_of(str(folder / "pack")) != built
    assert (fresh.load(1, stored=True) == 7).all()


def test_an_interrupted_build_is_not_taken_for_a_pack(folder):
    _masks(folder).use_pack(str(folder / "pack"))
    os.remove(folder / "pack" / STAMP)  # as a build killed before its last write leaves it
    assert not _masks(folder).use_pack(str(folder / "pack"), build=False)


def test_a_pickled_pack_carries_its_folder_not_its_pixels(folder):
    packed = _masks(folder)
    packed.use_pack(str(folder / "pack"))
    expected = _loads(packed)  # maps the pack in this process
    data = pickle.dumps(packed)
    assert len(data) < 4000 and _same(_loads(pickle.loads(data)), expected)


def test_the_fast_path_pastes_the_same_samples_with_a_pack(photos, tmp_path):
    """Bounded masks (tools/saliency.py --mask-size 128) packed: every sample equals the one read from files."""
    for src in glob.glob(str(photos / "masks" / "*" / "*.png")):
        mask = cv2.imread(src, cv2.IMREAD_UNCHANGED)
        dst = tmp_path / "masks" / os.path.relpath(src, photos / "masks")
        os.makedirs(dst.parent, exist_ok=True)
        size = bounded_size((mask.shape[1], mask.shape[0]), 128)
        write_mask(cv2.resize(mask, size, interpolation=cv2.INTER_AREA) / 255.0, str(dst), max_size=128)
    opts = ["INPUT.BACKEND", "gpu", "COPY_PASTE.PROB", "0.5", "COPY_PASTE.MASK_ROOT", str(tmp_path / "masks")]
    files = build_train_dataset(load_config("", opts), str(photos / "images"))
    packed = build_train_dataset(
        load_config("", [*opts, "COPY_PASTE.MASK_PACK", str(tmp_path / "pack")]), str(photos / "images")
    )
    assert packed.masks.pack is not None and files.masks.pack is None
    pasted = 0
    for i in range(len(files)):
        a, b = files[i], packed[i]
        assert np.array_equal(a.image, b.image) and a.status == b.status and (a.paste is None) == (b.paste is None)
        if b.paste is not None:  # the same mask window, foreground flag, background and blending
            assert all(np.array_equal(x, y) for x, y in zip(a.paste, b.paste, strict=True))
        pasted += b.paste is not None
    assert 0 < pasted < len(files)


def test_a_pack_shorter_than_its_index_stops_the_run_even_under_skip(folder):
    """A damaged pack is not one unreadable mask: its error names it, whatever MISSING_MASKS says."""
    packed = _masks(folder)  # checked with skip_bad
    packed.use_pack(str(folder / "pack"))
    pixels = folder / "pack" / "pixels.u8"
    pixels.write_bytes(pixels.read_bytes()[:100])
    with pytest.raises(ValueError, match="shorter than its index"):
        packed.load(0, stored=True)


def test_the_index_holds_each_masks_largest_value(folder):
    """The fast path asks whether a mask has foreground without a pass over its pixels: from the index."""
    files, packed = _masks(folder), _masks(folder)
    packed.use_pack(str(folder / "pack"))
    for i in range(3):
        mask = files.load(i, stored=True)
        assert files.peak(i, mask) == packed.peak(i, np.zeros((1, 1), np.uint8)) == int(mask.max()) > 0


def test_a_pack_of_another_format_is_rebuilt_and_never_read(folder, monkeypatch):
    monkeypatch.setattr(mask_pack, "FORMAT", 1)
    _masks(folder).use_pack(str(folder / "pack"))
    old = stamp_of(str(folder / "pack"))
    monkeypatch.setattr(mask_pack, "FORMAT", 2)
    assert not _masks(folder).use_pack(str(folder / "pack"), build=False)  # not this format's: not read
    assert _masks(folder).use_pack(str(folder / "pack")) and stamp_of(str(folder / "pack")) != old
    index = np.load(folder / "pack" / "index.npy")
    np.save(folder / "pack" / "index.npy", index[:, :3])  # a 3-column index, as format 1 wrote
    with pytest.raises(ValueError, match=r"index of shape \(5, 3\)"):
        mask_pack.MaskPack(str(folder / "pack")).mask(0)
