"""tools/eval_saliency.py as users run it: mirrored mask trees, several methods, missing and broken files."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pretrain.saliency.metrics import SaliencyEvaluator, read_mask, resize_to
from tests.conftest import REPO

TOOL = os.path.join(REPO, "tools", "eval_saliency.py")


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=60, cwd=REPO)


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


def test_two_methods_table_json_and_pr_curve(trees):
    out = run_tool(
        "--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}", "--pred", f"blurry={trees / 'blurry'}",
        "--json", str(trees / "out" / "eval.json"), "--pr-curve", str(trees / "out" / "pr.png"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.strip().splitlines()
    assert header.split() == ["method", "images", "maxF", "meanF", "adaptF", "MAE"]
    assert [row.split()[:2] for row in rows] == [["good", "2"], ["blurry", "2"]]
    assert "blurry: resized 1" in out.stderr
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


def test_missing_prediction_is_an_error_unless_allowed(trees):
    os.remove(trees / "good" / "sub" / "b.png")
    args = ["--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}", "--json", str(trees / "eval.json")]
    out = run_tool(*args)
    assert out.returncode != 0
    assert "1 of 2" in out.stderr and "sub/b" in out.stderr and "--allow-missing" in out.stderr
    assert not (trees / "eval.json").exists()
    out = run_tool(*args, "--allow-missing")
    assert out.returncode == 0, out.stderr
    assert "skipped 1" in out.stderr
    saved = json.loads((trees / "eval.json").read_text())["methods"]["good"]
    assert (saved["num_images"], saved["missing"]) == (1, 1)


def test_unreadable_prediction_names_the_file(trees):
    broken = trees / "good" / "a.png"
    broken.write_bytes(b"not a png")
    out = run_tool("--gt", str(trees / "gt"), "--pred", f"good={trees / 'good'}")
    assert out.returncode != 0
    assert str(broken) in out.stderr


@pytest.mark.parametrize(
    ("pred", "message"),
    [("good", "expected NAME=DIR"), ("good=/nonexistent/maps", "/nonexistent/maps")],
)
def test_bad_arguments(trees, pred, message):
    out = run_tool("--gt", str(trees / "gt"), "--pred", pred)
    assert out.returncode != 0
    assert message in out.stderr
