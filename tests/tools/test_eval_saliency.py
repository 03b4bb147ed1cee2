"""tools/eval_saliency.py as users run it: mirrored mask trees, several methods, missing and broken files."""

import json
import os
import re

import cv2
import numpy as np
import pytest

from pretrain.saliency.metrics import SaliencyEvaluator, read_mask, resize_to
from tests.conftest import load_tool

TOOL = load_tool("eval_saliency")


def run_tool(*args: str) -> dict[str, dict]:
    return TOOL.main(TOOL.parse_args(list(args)))


def write(path, image: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return str(path)


@pytest.fixture
def trees(tmp_path):
    """gt/{a.png, sub/b.bmp}; good/ predicts both well, blurry/ predicts b at half size (resized by the tool)."""
    rng = np.random.default_rng(0)
    gt_a = np.zeros((24, 32), np.uint8)
    gt_a[6:18, 8:20] = 255
    gt_b = np.zeros((20, 20), np.uint8)
    gt_b[10:, :12] = 255
    write(tmp_path / "gt" / "a.png", gt_a)
    write(tmp_path / "gt" / "sub" / "b.bmp", gt_b)
    for gt, name in ((gt_a, "a"), (gt_b, "sub/b")):
        noisy = np.clip(gt * 0.8 + rng.integers(0, 60, gt.shape), 0, 255).astype(np.uint8)
        write(tmp_path / "good" / f"{name}.png", noisy)
    write(tmp_path / "blurry" / "a.png", cv2.GaussianBlur(gt_a, (0, 0), 4))
    write(tmp_path / "blurry" / "sub" / "b.png", cv2.resize(cv2.GaussianBlur(gt_b, (0, 0), 3), (10, 10)))
    return tmp_path


def direct(root, method: str) -> dict:
    ev = SaliencyEvaluator()
    for name, gt_file in (("a", "a.png"), ("sub/b", "sub/b.bmp")):
        gt, pred = read_mask(str(root / "gt" / gt_file)), read_mask(str(root / method / f"{name}.png"))
        ev.update(resize_to(pred, gt.shape) if pred.shape != gt.shape else pred, gt)
    return ev.result()


def test_two_methods_table_json_and_pr_curve(trees, capsys):
    results = run_tool(
        "--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}", "--pred", f"blurry={trees / 'blurry'}",
        "--json", str(trees / "out" / "eval.json"), "--pr-curve", str(trees / "out" / "pr.png"),
    )  # fmt: skip
    out = capsys.readouterr()
    assert list(results) == ["good", "blurry"]
    header, *rows = out.out.strip().splitlines()
    assert header.split() == ["method", "images", "maxF", "meanF", "adaptF", "MAE"]
    assert [row.split()[:2] for row in rows] == [["good", "2"], ["blurry", "2"]]
    assert "warning: blurry: resized 1 predictions" in out.err and "good:" not in out.err
    saved = json.loads((trees / "out" / "eval.json").read_text())
    assert saved["beta2"] == 0.3
    for method in ("good", "blurry"):
        got, want = saved["methods"][method], direct(trees, method)
        for key in ("max_fbeta", "mean_fbeta", "adaptive_fbeta", "mae", "num_images"):
            assert got[key] == pytest.approx(want[key]), (method, key)
        assert got["precision"] == pytest.approx(want["precision"].tolist())
        assert got["recall"] == pytest.approx(want["recall"].tolist())
        assert f"{want['max_fbeta']:.4f}" in next(row for row in rows if row.startswith(method))
    assert saved["methods"]["good"]["max_fbeta"] > saved["methods"]["blurry"]["max_fbeta"] > 0.5
    assert saved["methods"]["blurry"]["resized"] == 1
    png = cv2.imread(str(trees / "out" / "pr.png"))
    assert png is not None and png.shape == (480, 640, 3)
    assert len(np.unique(png.reshape(-1, 3), axis=0)) > 10  # curves and text, not a blank canvas


def test_missing_prediction_is_an_error_unless_allowed(trees, capsys):
    os.remove(trees / "good" / "sub" / "b.png")
    args = ["--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}", "--json", str(trees / "eval.json")]
    with pytest.raises(SystemExit, match=r"^eval_saliency: method 'good': 1 of 2 masks .* e\.g\. sub/b .*--allow-miss"):
        run_tool(*args)
    assert not (trees / "eval.json").exists()
    run_tool(*args, "--allow-missing")
    assert "warning: good: skipped 1 masks without a prediction" in capsys.readouterr().err
    saved = json.loads((trees / "eval.json").read_text())["methods"]["good"]
    assert (saved["num_images"], saved["missing"]) == (1, 1)


def test_unreadable_prediction_names_the_file(trees):
    broken = trees / "good" / "a.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(SystemExit, match=f"^eval_saliency: method 'good': cannot read image {re.escape(str(broken))}$"):
        run_tool("--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}")


def test_bad_arguments(trees, capsys):
    with pytest.raises(SystemExit) as usage:
        run_tool("--gt", str(trees / "gt"), "--pred", "good")
    assert usage.value.code == 2 and "expected NAME=DIR, got 'good'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^eval_saliency: method 'good': mask folder '/nonexistent/maps' does not"):
        run_tool("--gt", str(trees / "gt"), "--pred", "good=/nonexistent/maps")
    (trees / "empty").mkdir()
    with pytest.raises(SystemExit, match="^eval_saliency: no masks found under"):
        run_tool("--gt", str(trees / "empty"), "--pred", f"good={trees / 'good'}")
