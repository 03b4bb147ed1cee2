"""tools/backgrounds.py: every variant, BG-Gap and the sampled challenge of a model, on the embedded set and on a
folder laid out as the authors' IN-9 release."""

import json
import os

import cv2
import numpy as np
import pytest
import torch

from pretrain.diagnosis.backgrounds import IN9_CLASSES, VARIANTS
from pretrain.probe import load_probe_config
from pretrain.probe.protocol import protocol_classifier
from pretrain.utils.provenance import ProvenanceError
from tests.conftest import TINY, load_tool

TOOL = load_tool("backgrounds")
RANDOM = ["--model", "random=random", "MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", "0.125"]


def test_the_embedded_set_every_variant_and_a_sampled_challenge(embedded_cache, tmp_path, capsys, one_thread):
    out = tmp_path / "bg.json"
    args = [
        *RANDOM,
        "--challenge-backgrounds",
        "3",
        "--json",
        str(out),
        *TINY,
        "DATA.EMBEDDED.CACHE_DIR",
        embedded_cache,
    ]
    (result,) = TOOL.main(TOOL.parse_args(args))
    assert set(result["accuracy"]) == set(VARIANTS) and all(0 <= a <= 100 for a in result["accuracy"].values())
    assert result["challenge"]["sampled"] and result["challenge"]["backgrounds"] == 3
    assert result["test_images"] + result["dropped"] == 16 and result["masks"] == "true"  # TINY: 4 classes x 4
    assert json.loads(out.read_text())["results"][0]["bg_gap"] == pytest.approx(result["bg_gap"])
    printed = capsys.readouterr().out
    assert "| random |" in printed and "each on 3 of the" in printed


def write_in9(root, train) -> None:
    """The released layout, 2 images a class of 24 px (a bright square on dark noise), and a training folder."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(IN9_CLASSES):
        for variant in (*VARIANTS, "fg_mask"):
            os.makedirs(root / variant / "val" / name)
        os.makedirs(train / name)
        for i in range(2):
            image = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
            image[6:14, 8:16] = 25 * label
            mask = np.zeros((24, 24), np.uint8)
            mask[6:14, 8:16] = 1
            stem = f"n{label:08d}_{i}"
            for variant in VARIANTS:
                cv2.imwrite(str(root / variant / "val" / name / f"{stem}.JPEG"), image)
            np.save(root / "fg_mask" / "val" / name / f"{stem}.npy", mask)
            cv2.imwrite(str(train / name / f"{stem}.png"), image)


def test_the_authors_in9_folder_is_read_as_released(tmp_path, one_thread):
    write_in9(tmp_path / "bg_challenge", tmp_path / "train")
    args = [*RANDOM, "--in9", str(tmp_path), "--train", str(tmp_path / "train"), "--size", "24"]
    (result,) = TOOL.main(TOOL.parse_args(args))
    assert set(result["accuracy"]) == set(VARIANTS) and result["test_images"] == 18
    assert result["challenge"]["foregrounds"] == 18 and result["challenge"]["pool"] == 18
    assert not result["challenge"]["sampled"]  # 18 backgrounds, fewer than the default 100


def test_in9_needs_the_training_images_of_its_classes(tmp_path):
    write_in9(tmp_path / "bg_challenge", tmp_path / "train")
    os.rename(tmp_path / "train" / "08_fish", tmp_path / "train" / "08_fishes")
    args = [*RANDOM, "--in9", str(tmp_path), "--train", str(tmp_path / "train"), "--size", "24"]
    with pytest.raises(ValueError, match="must hold the test set's class folders"):
        TOOL.main(TOOL.parse_args(args))


def test_the_papers_probe_is_trained_once_and_reused_only_as_it_was_made(embedded_cache, tmp_path, one_thread):
    """--probe protocol: the paper's SGD probe in --probe-dir, its own Original top-1 beside the variants'; a rerun
    reuses it untouched, and a probe made with another learning rate is refused, not reused."""
    config = tmp_path / "probe.yaml"
    config.write_text("SOLVER:\n  EPOCHS: 2\n  STEPS: (1,)\n  IMS_PER_BATCH: 16\nDATA:\n  NUM_WORKERS: 0\n")
    probes = tmp_path / "probes"
    args = [*RANDOM, "--probe", "protocol", "--probe-config", str(config), "--probe-dir", str(probes),
            "--challenge-backgrounds", "2", *TINY, "DATA.EMBEDDED.CACHE_DIR", embedded_cache]  # fmt: skip
    (first,) = TOOL.main(TOOL.parse_args(args))
    assert first["probe"] == "protocol" and first["probe_result"]["epochs"] == 2
    assert first["probe_result"]["mode"] == "full" and set(first["accuracy"]) == set(VARIANTS)
    # The 32 px images are the input size: the probe's center crop is the whole image the variants are read as
    # (its features rounded to float16: one image of the test set may fall the other way).
    one_image = 100 / first["test_images"]
    assert abs(first["probe_result"]["top1"] - first["accuracy"]["original"]) <= one_image
    checkpoint = probes / "random" / "probe_last.pth"
    made = checkpoint.stat().st_mtime_ns

    (again,) = TOOL.main(TOOL.parse_args(args))
    assert checkpoint.stat().st_mtime_ns == made and again["accuracy"] == pytest.approx(first["accuracy"])

    config.write_text(
        "SOLVER:\n  EPOCHS: 2\n  STEPS: (1,)\n  IMS_PER_BATCH: 16\n  BASE_LR: 3.0\nDATA:\n  NUM_WORKERS: 0\n"
    )
    with pytest.raises(ProvenanceError, match="SOLVER.BASE_LR"):
        TOOL.main(TOOL.parse_args(args))


def test_the_lbfgs_probe_has_no_protocol_classifier():
    cfg = load_probe_config("", ["FAST.ENABLED", "True", "FAST.SOLVER", "lbfgs"])
    with pytest.raises(ValueError, match="trained by SGD"):
        protocol_classifier(None, cfg, torch.device("cpu"))
