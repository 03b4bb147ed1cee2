"""The figure grid every diagnosis figure shares: fixed letterboxed cells, white gaps, title rows.

- Fixed cells, letterboxed: an image is scaled to fit its cell keeping its aspect and padded
  with black, so landscape and portrait images share one grid and nothing is cropped.
- Thin white gaps (``gap`` pixels) separate cells; a white header row of ``HEADER`` pixels holds
  the column titles, and an optional second one above it names groups of columns (one model's
  block of neighbours, say). Figure size: height ``headers * HEADER + rows * (cell_h + gap)``,
  width ``cols * cell_w + (cols - 1) * gap``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

GAP = 4  # white pixels between cells
HEADER = 28  # height of a title row
WHITE = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX


def fit_image(image: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """``image`` (H x W [x C]) scaled to fit inside ``cell`` keeping its aspect (area-averaged when shrinking)."""
    h, w = image.shape[:2]
    scale = min(cell[0] / h, cell[1] / w)
    size = (max(1, min(cell[1], round(w * scale))), max(1, min(cell[0], round(h * scale))))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def letterbox(image: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """``image`` (already fitted) centered on a black ``cell``; a grayscale image is shown as RGB."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    out = np.zeros((*cell, 3), np.uint8)
    y, x = (cell[0] - image.shape[0]) // 2, (cell[1] - image.shape[1]) // 2
    out[y : y + image.shape[0], x : x + image.shape[1]] = image
    return out


def spanning_header(spans: Sequence[tuple[str, int]], cell_w: int, gap: int) -> np.ndarray:
    """A white strip with each (title, columns) centered over its columns, shrunk to fit them if needed."""
    width = sum(n for _, n in spans) * (cell_w + gap) - gap
    out = np.full((HEADER, width, 3), WHITE, np.uint8)
    x0 = 0
    for title, n in spans:
        span_w = n * (cell_w + gap) - gap
        scale = 0.55
        (tw, th), _ = cv2.getTextSize(title, FONT, scale, 1)
        if tw > span_w - 4:
            scale *= (span_w - 4) / tw
            (tw, th), _ = cv2.getTextSize(title, FONT, scale, 1)
        cv2.putText(out, title, (x0 + (span_w - tw) // 2, (HEADER + th) // 2), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        x0 += span_w + gap
    return out


def header(titles: Sequence[str], cell_w: int, gap: int) -> np.ndarray:
    """One title centered over each column."""
    return spanning_header([(t, 1) for t in titles], cell_w, gap)


def grid(
    rows: Sequence[Sequence[np.ndarray]],
    titles: Sequence[str],
    gap: int,
    groups: Sequence[tuple[str, int]] | None = None,
) -> np.ndarray:
    """Equal-size cells joined by white gaps under a title header (and a group header above it, if given)."""
    cell_h, cell_w = rows[0][0].shape[:2]
    vgap = np.full((cell_h, gap, 3), WHITE, np.uint8)
    strips = [spanning_header(groups, cell_w, gap)] if groups else []
    strips.append(header(titles, cell_w, gap))
    for cells in rows:
        strip = np.concatenate([part for c in cells for part in (c, vgap)][:-1], axis=1)
        strips += [np.full((gap, strip.shape[1], 3), WHITE, np.uint8), strip]
    return np.concatenate(strips, axis=0)


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a black box in the cell's bottom-left corner (a score beside its picture)."""
    out = cell.copy()
    (tw, th), base = cv2.getTextSize(text, FONT, 0.4, 1)
    cv2.rectangle(out, (0, out.shape[0] - th - base - 4), (tw + 4, out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (2, out.shape[0] - base - 2), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def frame(cell: np.ndarray, color: tuple[int, int, int], width: int = 3) -> np.ndarray:
    """The cell with a coloured border (e.g. green for a neighbour of the query's class)."""
    out = cell.copy()
    out[:width], out[-width:], out[:, :width], out[:, -width:] = color, color, color, color
    return out


def write_png(path: str, figure: np.ndarray) -> None:
    """Save an RGB figure as PNG, compressed hardest (figures go into repositories); a failed write raises."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write {path!r} (is the extension .png?)")
