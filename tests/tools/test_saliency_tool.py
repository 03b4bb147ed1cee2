"""tools/saliency.py: mirrored mask tree, resume, shards, bad files."""

import glob
import os
import re

import cv2
import numpy as np
import pytest
import yaml

from pretrain.data.masks import MaskFolder
from pretrain.saliency.batch import compute_masks
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
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


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
