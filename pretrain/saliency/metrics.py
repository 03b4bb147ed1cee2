"""Salient-object-detection metrics: PR curves, max / mean / adaptive F-beta and MAE.

The conventions are those of Borji et al.'s salient-object benchmark and of the evaluation code
commonly used for DUT-OMRON, ECSSD and the like, so that numbers compare with published tables:

- a predicted map (any range) is min-max normalized to [0, 1] per image; a constant map carries
  no ranking of pixels and becomes all zeros;
- ground truth is an 8-bit mask, foreground where ``gt > 128`` (a bool mask is taken as is);
- at each of the 256 thresholds t = 0..255 a pixel is predicted salient when ``map >= t / 255``
  (computed as ``floor(255 * map) >= t``), so t = 0 predicts every pixel and t = 255 only the maxima;
- precision of an empty prediction is 0 (no pixel predicted, none right), and recall against an
  empty ground truth is 0, as in the common code; F-beta is 0 where precision and recall are both 0;
- F-beta = (1 + beta^2) P R / (beta^2 P + R) with beta^2 = 0.3, weighting precision over recall;
- max F-beta: precision and recall curves are averaged over images first, the F curve is computed
  from the mean curves, and its maximum over thresholds is reported (the benchmark's convention;
  some newer code averages per-image F curves instead, which gives slightly lower numbers);
  mean F-beta is the mean of that F curve over the 256 thresholds;
- adaptive F-beta: per image, threshold the normalized map at ``min(2 * mean(map), 1)`` (again
  ``>=``), take F-beta there, and average over images;
- MAE: mean absolute difference between the normalized map and the {0, 1} ground truth, per image,
  averaged over images.

Everything per image is O(pixels + 256): one 256-bin histogram of the quantized map inside the
foreground and one inside the background, then reversed cumulative sums give the true and false
positives at every threshold.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from tqdm import tqdm

BETA2 = 0.3
NUM_THRESHOLDS = 256
MASK_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
SHOW_MISSING = 5  # missing predictions named in the error


def normalize_map(pred: np.ndarray) -> np.ndarray:
    """Min-max normalize to float64 in [0, 1]; methods emit maps in arbitrary ranges."""
    pred = np.asarray(pred, dtype=np.float64)
    if not np.isfinite(pred).all():
        raise ValueError("prediction contains NaN or infinite values")
    low, high = pred.min(), pred.max()
    if high <= low:
        return np.zeros_like(pred)
    return (pred - low) / (high - low)


def binarize_gt(gt: np.ndarray) -> np.ndarray:
    """Foreground of an 8-bit mask (``> 128``), which tolerates JPEG and resampling noise."""
    gt = np.asarray(gt)
    return gt if gt.dtype == bool else gt > 128


def fbeta(precision: np.ndarray | float, recall: np.ndarray | float, beta2: float = BETA2) -> np.ndarray:
    """F-beta, elementwise, defined as 0 where precision and recall are both 0."""
    precision, recall = np.asarray(precision, dtype=np.float64), np.asarray(recall, dtype=np.float64)
    num, den = (1 + beta2) * precision * recall, beta2 * precision + recall
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def pr_curves(norm_pred: np.ndarray, gt_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at thresholds t = 0..255 (predicted where ``floor(255 * map) >= t``)."""
    levels = np.floor(norm_pred * (NUM_THRESHOLDS - 1)).astype(np.intp)
    fg_hist = np.bincount(levels[gt_mask], minlength=NUM_THRESHOLDS)
    bg_hist = np.bincount(levels[~gt_mask], minlength=NUM_THRESHOLDS)
    tp = np.cumsum(fg_hist[::-1])[::-1].astype(np.float64)  # tp[t]: foreground pixels at level >= t
    predicted = tp + np.cumsum(bg_hist[::-1])[::-1]
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / max(int(gt_mask.sum()), 1)
    return precision, recall


def adaptive_fbeta(norm_pred: np.ndarray, gt_mask: np.ndarray, beta2: float = BETA2) -> float:
    """F-beta at the per-image threshold min(2 * mean, 1): a cut that adapts to how bright the map is."""
    predicted = norm_pred >= min(2 * float(norm_pred.mean()), 1.0)
    tp = int(np.count_nonzero(predicted & gt_mask))
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(gt_mask.sum()), 1)
    return float(fbeta(precision, recall, beta2))


def mae(norm_pred: np.ndarray, gt_mask: np.ndarray) -> float:
    """Mean absolute error against the {0, 1} mask: rewards confident maps, unlike thresholded scores."""
    return float(np.abs(norm_pred - gt_mask).mean())


class SaliencyEvaluator:
    """Accumulates the per-image pieces over a data set; :meth:`result` gives the benchmark numbers."""

    def __init__(self, beta2: float = BETA2) -> None:
        self.beta2 = beta2
        self.num_images = 0
        self._precision = np.zeros(NUM_THRESHOLDS)
        self._recall = np.zeros(NUM_THRESHOLDS)
        self._adaptive = 0.0
        self._mae = 0.0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``pred`` an H x W map in any range, ``gt`` the H x W 8-bit mask."""
        if np.shape(pred) != np.shape(gt):
            raise ValueError(f"prediction shape {np.shape(pred)} does not match ground-truth shape {np.shape(gt)}")
        if np.ndim(pred) != 2:
            raise ValueError(f"expected single-channel H x W maps, got shape {np.shape(pred)}")
        norm, mask = normalize_map(pred), binarize_gt(gt)
        precision, recall = pr_curves(norm, mask)
        self._precision += precision
        self._recall += recall
        self._adaptive += adaptive_fbeta(norm, mask, self.beta2)
        self._mae += mae(norm, mask)
        self.num_images += 1

    def result(self) -> dict:
        """Scalars as floats and the mean curves (index = threshold t) as float64 arrays."""
        if self.num_images == 0:
            raise ValueError("no images were evaluated")
        precision, recall = self._precision / self.num_images, self._recall / self.num_images
        f_curve = fbeta(precision, recall, self.beta2)
        return {
            "num_images": self.num_images,
            "max_fbeta": float(f_curve.max()),
            "max_fbeta_threshold": int(f_curve.argmax()),
            "mean_fbeta": float(f_curve.mean()),
            "adaptive_fbeta": self._adaptive / self.num_images,
            "mae": self._mae / self.num_images,
            "precision": precision,
            "recall": recall,
            "fbeta": f_curve,
        }


def find_masks(root: str) -> dict[str, str]:
    """Mask files under ``root`` keyed by relative path without extension ('sub/img'), to pair mirrored trees."""
    if not os.path.isdir(root):
        raise ValueError(f"mask folder {root!r} does not exist")
    masks: dict[str, str] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() not in MASK_EXTENSIONS:
                continue
            key = os.path.relpath(os.path.join(folder, stem), root).replace(os.sep, "/")
            if key in masks:
                raise ValueError(f"two masks for {key!r}: {masks[key]} and {os.path.join(folder, name)}")
            masks[key] = os.path.join(folder, name)
    return masks


def evaluate_folder(pred_dir: str, gts: dict[str, str], allow_missing: bool = False, desc: str = "") -> dict:
    """The maps under ``pred_dir`` scored against the masks ``gts`` (:func:`find_masks`), paired by relative path.

    A map at another size than its mask is resized to it (bilinear) and counted in ``resized``. A
    mask without a map is an error naming the first few, unless ``allow_missing``: then it is left
    out and counted in ``missing``. ``desc`` labels the progress bar.
    """
    preds = find_masks(pred_dir)
    missing = [key for key in sorted(gts) if key not in preds]
    if missing and not allow_missing:
        raise ValueError(
            f"{len(missing)} of {len(gts)} masks have no prediction under {pred_dir}, "
            f"e.g. {', '.join(missing[:SHOW_MISSING])} (relative paths without extension); "
            "pass --allow-missing to skip them"
        )
    evaluator, resized = SaliencyEvaluator(), 0
    for key in tqdm(sorted(set(gts) - set(missing)), desc=desc or pred_dir, unit="img", disable=None):
        pred, gt = read_mask(preds[key], keep_depth=True), read_mask(gts[key])
        if pred.shape != gt.shape:
            pred, resized = resize_to(pred, gt.shape), resized + 1
        evaluator.update(pred, gt)
    return {"pred_dir": pred_dir, "missing": len(missing), "resized": resized, **evaluator.result()}


def read_mask(path: str, keep_depth: bool = False) -> np.ndarray:
    """A mask as one H x W channel; ``keep_depth`` keeps 16-bit or float predictions at full precision."""
    image = cv2.imread(path, cv2.IMREAD_ANYDEPTH if keep_depth else cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def resize_to(pred: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear resize of a map to an H x W ``shape``, for predictions made at another resolution."""
    return cv2.resize(pred.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def format_table(results: dict[str, dict]) -> str:
    """Methods side by side, one row each, as in the papers' tables."""
    width = max(6, *(len(name) for name in results))
    lines = [f"{'method':<{width}}  {'images':>6}  {'maxF':>6}  {'meanF':>6}  {'adaptF':>6}  {'MAE':>6}"]
    for name, r in results.items():
        lines.append(
            f"{name:<{width}}  {r['num_images']:>6d}  {r['max_fbeta']:6.4f}  {r['mean_fbeta']:6.4f}  "
            f"{r['adaptive_fbeta']:6.4f}  {r['mae']:6.4f}"
        )
    return "\n".join(lines)


_COLORS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140)]  # BGR
_FONT, _BLACK = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0)


class _Axes:
    """Maps recall (x) and precision (y) in [0, 1] to pixels of a plot area with margins for labels."""

    left, right, top, bottom = 64, 16, 16, 48

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.plot_w, self.plot_h = width - self.left - self.right, height - self.top - self.bottom

    def px(self, x: np.ndarray | float, y: np.ndarray | float, scale: int = 1) -> np.ndarray:
        """Pixel coordinates, times ``scale`` (16 for polylines' sub-pixel ``shift=4``)."""
        xy = np.stack([self.left + np.asarray(x) * self.plot_w, self.top + (1 - np.asarray(y)) * self.plot_h], -1)
        return np.round(xy * scale).astype(np.int32)

    def draw(self, canvas: np.ndarray) -> None:
        for tick in np.linspace(0, 1, 6):
            cv2.line(canvas, tuple(self.px(tick, 0)), tuple(self.px(tick, 1)), (220, 220, 220), 1)
            cv2.line(canvas, tuple(self.px(0, tick)), tuple(self.px(1, tick)), (220, 220, 220), 1)
            x, y = self.px(tick, tick)
            cv2.putText(canvas, f"{tick:.1f}", (int(x) - 12, self.height - self.bottom + 18), _FONT, 0.4, _BLACK, 1)
            cv2.putText(canvas, f"{tick:.1f}", (self.left - 30, int(y) + 4), _FONT, 0.4, _BLACK, 1)
        cv2.rectangle(canvas, tuple(self.px(0, 1)), tuple(self.px(1, 0)), _BLACK, 1)
        center_x, center_y = self.px(0.5, 0.5)
        cv2.putText(canvas, "Recall", (int(center_x) - 24, self.height - 12), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
        label = np.full((20, 84, 3), 255, np.uint8)  # OpenCV writes only horizontally: draw, then rotate
        cv2.putText(label, "Precision", (2, 15), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
        label = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = int(center_y) - label.shape[0] // 2
        canvas[y0 : y0 + label.shape[0], 6 : 6 + label.shape[1]] = label


def draw_pr_curves(results: dict[str, dict], path: str, size: tuple[int, int] = (640, 480)) -> None:
    """Write a PNG of precision against recall, one curve per method and a legend, with OpenCV alone."""
    axes = _Axes(*size)
    canvas = np.full((axes.height, axes.width, 3), 255, np.uint8)
    axes.draw(canvas)
    for i, (name, r) in enumerate(results.items()):
        color = _COLORS[i % len(_COLORS)]
        cv2.polylines(canvas, [axes.px(r["recall"], r["precision"], 16)], False, color, 2, cv2.LINE_AA, shift=4)
        y = axes.height - axes.bottom - 12 - 18 * (len(results) - 1 - i)  # legend, bottom left
        cv2.line(canvas, (axes.left + 10, y - 4), (axes.left + 34, y - 4), color, 2, cv2.LINE_AA)
        cv2.putText(canvas, f"{name} (maxF {r['max_fbeta']:.3f})", (axes.left + 40, y), _FONT, 0.45, _BLACK, 1)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, canvas):
        raise ValueError(f"cannot write {path}")
