"""tools/bench_saliency.py on two SOD photos: one row per method and resolution, scores as the evaluator gives them."""

import json
import os

import numpy as np
import pytest

from pretrain.saliency import build_saliency
from pretrain.saliency.metrics import SaliencyEvaluator, find_masks, read_mask
from pretrain.utils.image_io import list_images, load_rgb
from tests.conftest import load_tool, shared_data

TOOL = load_tool("bench_saliency")


def test_rows_time_each_setting_and_score_it_against_the_masks(capsys):
    images, masks = shared_data("sod-dev", "images"), shared_data("sod-dev", "masks")
    args = ["--images", images, "--masks", masks, "--methods", "gs", "mc", "--max-side", "48", "64", "--limit", "2"]
    rows = TOOL.main(TOOL.parse_args(args))
    assert [(r["method"], r["max_side"], r["images"]) for r in rows] == [
        ("gs", 48, 2), ("gs", 64, 2), ("mc", 48, 2), ("mc", 64, 2)
    ]  # fmt: skip
    gts = find_masks(masks)
    for row in rows:
        evaluator = SaliencyEvaluator()
        method = build_saliency(row["method"], max_side=row["max_side"])
        for name in list_images(images)[:2]:
            image = np.asarray(load_rgb(os.path.join(images, name)))
            evaluator.update(method(image), read_mask(gts[os.path.splitext(name)[0]]))
        want = evaluator.result()
        assert row["s_per_image_core"] > 0
        for key in ("max_fbeta", "mean_fbeta", "adaptive_fbeta", "mae"):
            assert row[key] == pytest.approx(want[key], abs=5e-5), (row, key)
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed[:4]] == rows
    assert printed[5].startswith("2 images of about") and printed[6].split() == [
        "method", "max", "side", "s/img/core", "maxF", "meanF", "adaptF", "MAE"
    ]  # fmt: skip
    assert len(printed) == 11


def test_without_masks_only_times(capsys):
    images = shared_data("sod-dev", "images")
    args = ["--images", images, "--masks", "", "--methods", "gs", "--max-side", "48", "--limit", "1"]
    rows = TOOL.main(TOOL.parse_args(args))
    assert len(rows) == 1 and "max_fbeta" not in rows[0]
    assert capsys.readouterr().out.splitlines()[-1].split()[-4:] == ["-", "-", "-", "-"]
