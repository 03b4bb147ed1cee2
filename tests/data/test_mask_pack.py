"""COPY_PASTE.MASK_PACK: the masks from one mapped file, the same values as their files, rebuilt when those change,
never another run's, and checked by every process that maps them."""

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
from pretrain.data.masks import MaskFolder
from pretrain.saliency.batch import write_mask
from pretrain.utils import provenance
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


def _packs(root) -> list[str]:
    """The packs under COPY_PASTE.MASK_PACK ``root`` (one sub-folder per fingerprint), sorted; temporaries apart."""
    return sorted(str(p) for p in (root / "pack").iterdir() if not p.name.startswith("."))


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
    (pack,) = _packs(folder)
    assert os.path.getsize(os.path.join(pack, "pixels.u8")) == 15 * 20 + 2 * 30 * 40


def test_a_pack_is_rebuilt_when_a_mask_file_changes_and_never_read_stale(folder, caplog):
    first = _masks(folder)
    first.use_pack(str(folder / "pack"))
    (built,) = _packs(folder)
    mask = folder / "masks" / "a" / "1.png"
    cv2.imwrite(str(mask), np.full((30, 40), 7, np.uint8))
    os.utime(mask, ns=(1, 1))  # a new modification time, whatever the file system's clock resolution
    with caplog.at_level(logging.WARNING, logger="pretrain"):
        assert not _masks(folder).use_pack(str(folder / "pack"), build=False)  # stale: the files are read
    assert "no mask pack of the masks" in caplog.text
    fresh = _masks(folder)
    assert fresh.use_pack(str(folder / "pack")) and built in _packs(folder) and len(_packs(folder)) == 2
    assert (fresh.load(1, stored=True) == 7).all()


def test_two_runs_with_other_masks_share_the_pack_folder_and_each_reads_its_own(folder, tmp_path):
    """The issue's run A (RBD masks) and run B (other masks) with one COPY_PASTE.MASK_PACK: B's pack is built
    beside A's, and A's workers, which map the pack anew every epoch, go on reading A's masks."""
    run_a = _masks(folder)
    run_a.use_pack(str(folder / "pack"))
    worker_a = pickle.loads(pickle.dumps(run_a))  # as a DataLoader worker of run A receives it
    expected = _loads(run_a)
    other = tmp_path / "other"
    _, masks = mask_tree(other, map(str, range(5)))
    for i in range(4):
        cv2.imwrite(str(masks / f"{i}.png"), np.full((30, 40), 200 + i, np.uint8))
    run_b = MaskFolder(str(other / "masks"), [f"a/{i}.jpg" for i in range(5)], allow_missing=True)
    run_b.check(str(other / "images"), skip_bad=True)
    assert run_b.use_pack(str(folder / "pack")) and len(_packs(folder)) == 2
    assert (run_b.load(2, stored=True) == 202).all()
    assert _same(_loads(worker_a), expected)


def test_a_worker_refuses_a_pack_that_is_not_the_one_its_run_checked(folder):
    packed = _masks(folder)
    packed.use_pack(str(folder / "pack"))
    (pack,) = _packs(folder)
    worker = pickle.loads(pickle.dumps(packed))
    record = provenance.read(pack)
    provenance.write(pack, provenance.Record(record.kind, {**record.fields, "masks": "another"}))
    with pytest.raises(provenance.ProvenanceError, match="masks: .*another"):
        worker.load(0, stored=True)


def test_an_interrupted_build_is_not_taken_for_a_pack(folder, monkeypatch):
    """A build that fails midway (a full disk, a kill) leaves no pack, and takes no other pack away."""
    _masks(folder).use_pack(str(folder / "pack"))
    (old,) = _packs(folder)
    os.utime(folder / "masks" / "a" / "1.png", ns=(2, 2))  # the masks changed: the next use rebuilds
    changed = _masks(folder)

    def full_disk(index: int):
        if index == 3:
            raise OSError(28, "No space left on device")
        return MaskFolder._read_stored(changed, index)

    monkeypatch.setattr(changed, "_read_stored", full_disk)
    with pytest.raises(OSError, match="No space left"):
        changed.use_pack(str(folder / "pack"))
    assert _packs(folder) == [old] and os.listdir(folder / "pack") == [os.path.basename(old)]
    assert not _masks(folder).use_pack(str(folder / "pack"), build=False)  # no whole pack of the new masks


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
        assert np.array_equal(a.image, b.image) and a.outcome == b.outcome and (a.paste is None) == (b.paste is None)
        if b.paste is not None:  # the same mask window, foreground flag, background and blending
            assert all(np.array_equal(x, y) for x, y in zip(a.paste, b.paste, strict=True))
        pasted += b.paste is not None
    assert 0 < pasted < len(files)


def test_a_pack_shorter_than_its_index_stops_the_run_even_under_skip(folder):
    """A damaged pack is not one unreadable mask: its error names it, whatever MISSING_MASKS says, and it comes
    when the run starts, not in a worker."""
    _masks(folder).use_pack(str(folder / "pack"))
    (pack,) = _packs(folder)
    pixels = os.path.join(pack, "pixels.u8")
    with open(pixels, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=f"mask pack '{pack}' is shorter than its index"):
        _masks(folder).use_pack(str(folder / "pack"))  # checked with skip_bad


def test_a_shortened_index_is_named_when_the_run_starts(folder):
    """The issue's pack whose index lost rows: a one-line error naming the pack, not an IndexError in a worker."""
    _masks(folder).use_pack(str(folder / "pack"))
    (pack,) = _packs(folder)
    np.save(os.path.join(pack, "index.npy"), np.load(os.path.join(pack, "index.npy"))[:3])
    with pytest.raises(ValueError, match=rf"mask pack '{pack}' indexes \(3, 4\) masks, not \(5, 4\)"):
        _masks(folder).use_pack(str(folder / "pack"))


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
    (old,) = _packs(folder)
    monkeypatch.setattr(mask_pack, "FORMAT", 2)
    assert not _masks(folder).use_pack(str(folder / "pack"), build=False)  # not this format's: not read
    assert _masks(folder).use_pack(str(folder / "pack")) and len(_packs(folder)) == 2
    (new,) = (p for p in _packs(folder) if p != old)
    index = np.load(os.path.join(new, "index.npy"))
    np.save(os.path.join(new, "index.npy"), index[:, :3])  # a 3-column index, as format 1 wrote
    with pytest.raises(ValueError, match=r"indexes \(5, 3\) masks, not \(5, 4\)"):
        _masks(folder).use_pack(str(folder / "pack"))
