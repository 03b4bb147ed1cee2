"""tools/saliency.py: mirrored mask tree, resume, shards, bad and oversized files, the mask folder's record."""

import glob
import os
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from pretrain.data.masks import MaskFolder
from pretrain.saliency.batch import compute_masks
from pretrain.utils import provenance
from tests.conftest import REPO, load_tool

TOOL = load_tool("saliency")


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for sub, n in (("a", 3), ("b/c", 2)):
        os.makedirs(root / sub)
        for i in range(n):
            img = rng.normal(100, 20, (120 + 4 * i, 160, 3)).clip(0, 255).astype(np.uint8)
            img[40:80, 60:100] = (20, 20, 250)  # BGR: a red square
            cv2.imwrite(str(root / sub / f"{i}.jpg"), img)
    return root


def _masks(root):
    """The mask files below ``root`` (its provenance.json is not one)."""
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs if f != "provenance.json"
    )


def test_tool_writes_a_mirrored_tree_then_resumes(images, tmp_path, capsys):
    out = tmp_path / "masks"
    args = ["--input", str(images), "--output", str(out)]
    assert TOOL.main(TOOL.parse_args([*args, "--workers", "2"])) == 0
    assert "5 masks written, 0 already present, 0 unreadable" in capsys.readouterr().out
    assert _masks(out) == ["a/0.png", "a/1.png", "a/2.png", "b/c/0.png", "b/c/1.png"]
    mask = cv2.imread(str(out / "a" / "2.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (128, 160) and mask.dtype == np.uint8
    assert mask[50:70, 70:90].mean() > 200 > 50 > mask[:20].mean()  # the red square is salient
    os.remove(out / "b" / "c" / "1.png")  # as if the job had been killed before it
    TOOL.main(TOOL.parse_args([*args, "--workers", "1"]))
    assert "1 masks written, 4 already present, 0 unreadable" in capsys.readouterr().out


def test_bad_images_are_skipped_and_counted(images, tmp_path):
    (images / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    summary = compute_masks(str(images), str(tmp_path / "m"), "gs", progress=False)
    assert summary.written == 5 and len(summary.bad) == 1 and summary.bad[0].endswith("broken.jpg")
    assert "broken.jpg" in str(summary) and "1 unreadable" in str(summary)


def test_shards_partition_the_work(images, tmp_path):
    written = [
        compute_masks(str(images), str(tmp_path / "m"), "mc", num_shards=2, shard_id=s, progress=False) for s in (0, 1)
    ]
    assert [s.written for s in written] == [3, 2]
    assert len(_masks(tmp_path / "m")) == 5
    with pytest.raises(ValueError, match="shard-id"):
        compute_masks(str(images), str(tmp_path / "m"), num_shards=2, shard_id=2)


def test_documented_imagenet_mask_commands_write_where_the_configs_read():
    """Each ImageNet mask command (README, the tool's help, a config's comment) writes a MASK_ROOT a config reads."""
    roots = set()
    for path in glob.glob(os.path.join(REPO, "configs", "pretrain", "**", "*.yaml"), recursive=True):
        with open(path) as f:
            root = (yaml.safe_load(f).get("COPY_PASTE") or {}).get("MASK_ROOT")
        if root and "imagenet" in root:
            roots.add(root)
    texts = [
        os.path.join(REPO, name) for name in ("README.md", "tools/saliency.py", "configs/pretrain/dilo_R50_rbd.yaml")
    ]
    outputs = []
    for name in texts:
        with open(name) as f:
            outputs += re.findall(r"--input datasets/imagenet/train --output (\S+)", f.read())
    assert len(outputs) >= 4 and "datasets/imagenet/masks_rbd/train" in roots
    assert set(outputs) <= roots, f"mask commands write {sorted(set(outputs) - roots)}, configs read {sorted(roots)}"


def test_masks_bounded_by_mask_size_fit_their_images(images, tmp_path):
    """--mask-size: each mask's longer side is the bound, its aspect the image's; training reads it at the
    image's size, its foreground where the full-size mask's is."""
    full = tmp_path / "full"
    compute_masks(str(images), str(full), "gs", progress=False)
    compute_masks(str(images), str(tmp_path / "m"), "gs", progress=False, max_size=64)
    relpaths = ["a/0.jpg", "a/2.jpg", "b/c/1.jpg"]
    folder = MaskFolder(str(tmp_path / "m"), relpaths)
    assert folder.check(str(images)) == []
    for i, rel in enumerate(relpaths):
        stored = folder.load(i, stored=True)
        exact = cv2.imread(str(full / rel.replace(".jpg", ".png")), cv2.IMREAD_UNCHANGED)
        assert max(stored.shape) == 64 and stored.shape == (round(exact.shape[0] * 64 / 160), 64)
        scaled = folder.load(i)
        assert scaled.shape == exact.shape and ((scaled >= 128) != (exact >= 128)).mean() < 0.03
    with pytest.raises(ValueError, match="--mask-size"):
        compute_masks(str(images), str(tmp_path / "n"), "gs", progress=False, max_size=-1)


def test_oversized_images_are_skipped_and_counted_apart_from_unreadable_ones(images, tmp_path, monkeypatch):
    """An image over PIL's pixel limit (read from its header) is skipped and named, not decoded, not fatal;
    the limit in force when the job starts holds in its worker processes too."""
    (images / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 124 * 160)  # a/2.jpg and b/c/... are 120 + 4 i rows
    summary = compute_masks(str(images), str(tmp_path / "m"), "gs", workers=2, progress=False)
    assert summary.written == 4 and [os.path.basename(p) for p in summary.bad] == ["broken.jpg"]
    assert [os.path.relpath(p, images) for p in summary.oversized] == ["a/2.jpg"]
    assert "1 unreadable images, 1 images over the pixel limit" in str(summary) and "a/2.jpg" in str(summary)
    assert "more than 19840 pixels" in str(summary) and "a/2.png" not in _masks(tmp_path / "m")


def _png_header(width, height):
    """A PNG that declares ``width`` x ``height`` RGB pixels but holds almost none: it opens, it never decodes."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">II", width, height) + bytes((8, 2, 0, 0, 0))  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")


def test_huge_images_are_skipped_without_being_decoded(images, tmp_path):
    """The issue's 13,000 x 13,000 photo (over PIL's limit of 89 million pixels, under twice it, where PIL only
    warns) and a 100,000 x 100,000 one (PIL refuses it): only their headers are read, and the job goes on."""
    (images / "a" / "huge.png").write_bytes(_png_header(13_000, 13_000))
    (images / "a" / "bomb.png").write_bytes(_png_header(100_000, 100_000))
    summary = compute_masks(str(images), str(tmp_path / "m"), "rbd", progress=False)
    assert summary.written == 5 and summary.bad == []
    assert [os.path.basename(p) for p in summary.oversized] == ["bomb.png", "huge.png"]


def _refusal(images, out, **kwargs):
    with pytest.raises(provenance.ProvenanceError) as refused:
        compute_masks(str(images), str(out), progress=False, **kwargs)
    return str(refused.value)


@pytest.mark.parametrize(
    ("first", "then", "keys"),
    [
        ({"method": "gs"}, {"method": "rbd"}, ["method"]),
        ({"method": "gs"}, {"method": "gs", "max_size": 64}, ["max_size"]),
        ({"method": "rbd"}, {"method": "mc"}, ["method", "parameters.num_superpixels", "parameters.boundary_width"]),
    ],
    ids=["another_method", "another_mask_size", "another_method_and_parameters"],
)
def test_a_rerun_with_other_settings_is_refused_before_writing(images, tmp_path, first, then, keys):
    out = tmp_path / "m"
    compute_masks(str(images), str(out), progress=False, **first)
    os.remove(out / "a" / "1.png")  # a gap the other settings must not fill
    before = (_masks(out), (out / "provenance.json").read_bytes())
    message = _refusal(images, out, **then)
    assert all(f"\n  {key}: " in message for key in keys), message
    assert f"another output folder (--output), or delete {out} to recompute them" in message
    assert (_masks(out), (out / "provenance.json").read_bytes()) == before  # nothing written, the record kept
    assert compute_masks(str(images), str(out), progress=False, **first).written == 1  # the same settings resume


def test_the_tool_refuses_small_image_settings_on_a_folder_made_without_them(images, tmp_path):
    args = ["--input", str(images), "--output", str(tmp_path / "m"), "--method", "rbd", "--workers", "1"]
    assert TOOL.main(TOOL.parse_args(args)) == 0
    record = provenance.read(str(tmp_path / "m"))
    assert record.kind == "saliency masks" and record.fields["method"] == "rbd" and record.fields["max_size"] == 0
    assert record.fields["parameters.pixels_per_superpixel"] == 600
    with pytest.raises(provenance.ProvenanceError, match=r"parameters\.pixels_per_superpixel: 600 there, 40 here"):
        TOOL.main(TOOL.parse_args([*args, "--small-images"]))


def test_masks_without_a_record_are_refused(images, tmp_path):
    """Masks an older dilo (or another tool) wrote: dilo cannot tell how they were made, so it adds none."""
    out = tmp_path / "m"
    os.makedirs(out / "a")
    cv2.imwrite(str(out / "a" / "0.png"), np.zeros((120, 160), np.uint8))
    message = _refusal(images, out, method="rbd")
    assert "holds masks but no record of what made them" in message and f"or delete {out}" in message
    assert _masks(out) == ["a/0.png"]
