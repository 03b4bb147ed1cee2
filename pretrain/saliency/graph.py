"""The superpixel graph shared by RBD, GS and MC.

All three methods reason on SLIC superpixels: mean colours and positions, which superpixels
touch, which lie on the image boundary, and shortest (geodesic) paths over colour
differences. That is computed here once, vectorized (no loop over pixels or pairs).

Speed: SLIC is run on a copy downscaled so that its longer side is at most ``max_side``
pixels (a quarter of the pixels for SOD's 481 x 321 images at 240); maps are painted at that
working resolution and resized back bilinearly.

How many superpixels (:func:`superpixel_count`, RBD and GS; MC asks a fixed number): the
authors' one per ``pixels_per_superpixel`` pixels, counted on the photo as if scaled down to fit
a reference side (``REFERENCE_SIDE``, 500 px: the size of the benchmark photos the authors tuned
on, and of ImageNet's), and at most one per ``MIN_SUPERPIXEL_AREA`` (40) pixels of the working
resolution. A photo up to 500 px gets the authors' count; a larger one the count of its 500 px
version, so its mask does not depend on its resolution; and whatever the photo's size and the
parameters, the graph (its n x n matrices, its shortest paths) is bounded by the working
resolution (SLIC is asked at most 240 x 240 / 40 = 1,440 superpixels at the default ``max_side``;
it returns about as many, up to a tenth more).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from skimage.color import rgb2lab
from skimage.segmentation import slic

# Shortest paths treat a zero-weight edge as no edge; clipped colour distances are often 0.
_EPS = 1e-9

REFERENCE_SIDE = 500  # superpixels are counted on the photo scaled down to fit this side (px)
# The hard cap: at least this many working-resolution pixels per superpixel (about 6 x 6). 40 is the
# small-image settings' own, so their count on ~64 px images (102 on 64 x 64) and their masks are unchanged.
MIN_SUPERPIXEL_AREA = 40


def working_size(image_size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(h, w) of the copy SLIC runs on: ``image_size`` scaled so that its longer side is at most ``max_side``."""
    h, w = image_size
    scale = min(1.0, max_side / max(h, w))
    return (h, w) if scale == 1.0 else (round(h * scale), round(w * scale))


def superpixel_count(
    image_size: tuple[int, int], pixels_per_superpixel: float, max_side: int, reference_side: int = REFERENCE_SIDE
) -> int:
    """The number of superpixels asked of SLIC for an image of ``image_size`` (h, w); see the module docstring.

    ``round(area / pixels_per_superpixel)`` with ``area`` the image's pixels once scaled down to fit
    ``reference_side`` (the image's own up to that side), capped at the working resolution's pixels
    (``max_side``) over ``MIN_SUPERPIXEL_AREA``, and at least 2.
    """
    h, w = image_size
    reference = min(1.0, reference_side / max(h, w)) ** 2
    wanted = round(h * w * reference / pixels_per_superpixel)
    small_h, small_w = working_size(image_size, max_side)
    return max(2, min(wanted, round(small_h * small_w / MIN_SUPERPIXEL_AREA)))


@dataclass
class SuperpixelGraph:
    """Superpixels of one image at the working resolution."""

    labels: np.ndarray  # (h, w) int, 0..n-1
    image_size: tuple[int, int]  # (H, W) of the input image
    mean_lab: np.ndarray  # (n, 3) CIE Lab of each superpixel's mean RGB colour
    mean_pos: np.ndarray  # (n, 2) mean (row, col), normalized by the height and width
    adjacency: np.ndarray  # (n, n) bool, 4-connected neighbours, no self-loops
    boundary: np.ndarray  # (k,) indices of superpixels within the boundary band
    border: np.ndarray  # (m,) indices of superpixels touching the image border

    @property
    def n(self) -> int:
        return self.mean_lab.shape[0]

    def paint(self, values: np.ndarray) -> np.ndarray:
        """Superpixel values -> a float32 map of the input image's size, min-max normalized."""
        v = values.astype(np.float32)
        v = (v - v.min()) / max(float(v.max() - v.min()), 1e-12)
        small = v[self.labels]
        h, w = self.image_size
        return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def build_graph(
    image: np.ndarray,
    num_superpixels: int,
    compactness: float = 20.0,
    max_side: int = 240,
    boundary_width: int = 8,
) -> SuperpixelGraph:
    """SLIC superpixels (in Lab) of an RGB uint8 image and their statistics.

    ``boundary_width`` is in pixels of the *input* image (RBD's band is 8 px) and is scaled to
    the working resolution.
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small_h, small_w = working_size((h, w), max_side)
    small = image if scale == 1.0 else cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    labels = slic(small, n_segments=num_superpixels, compactness=compactness, start_label=0, convert2lab=True)
    labels = _relabel(labels)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        return (
            np.stack([np.bincount(flat, v, minlength=n) for v in values.reshape(-1, values.shape[-1]).T], 1)
            / count[:, None]
        )

    rgb = mean(small.astype(np.float64))
    rows, cols = np.indices(labels.shape, dtype=np.float64)
    pos = mean(np.stack([(rows + 1) / labels.shape[0], (cols + 1) / labels.shape[1]], -1))
    band = max(1, round(boundary_width * scale))
    return SuperpixelGraph(
        labels=labels,
        image_size=(h, w),
        mean_lab=rgb2lab(rgb[None] / 255.0)[0],
        mean_pos=pos,
        adjacency=adjacency(labels, n),
        boundary=_band_ids(labels, band),
        border=_band_ids(labels, 1),
    )


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive labels 0..n-1 (SLIC may leave gaps)."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape)


def _band_ids(labels: np.ndarray, width: int) -> np.ndarray:
    band = np.concatenate(
        [labels[:width].ravel(), labels[-width:].ravel(), labels[:, :width].ravel(), labels[:, -width:].ravel()]
    )
    return np.unique(band)


def adjacency(labels: np.ndarray, n: int, diagonal: bool = False) -> np.ndarray:
    """(n, n) bool: superpixels sharing a 4-connected (or, with ``diagonal``, 8-connected) edge."""
    pairs = [(labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])]
    if diagonal:
        pairs += [(labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])]
    adj = np.zeros((n, n), dtype=bool)
    for a, b in pairs:
        differ = a != b
        adj[a[differ], b[differ]] = True
    adj |= adj.T
    np.fill_diagonal(adj, False)
    return adj


def two_ring(adj: np.ndarray) -> np.ndarray:
    """Neighbours and neighbours of neighbours (no self-loops)."""
    a = adj.astype(np.float32)
    ring = (a @ a + a) > 0
    np.fill_diagonal(ring, False)
    return ring


def link(adj: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A copy of ``adj`` in which the superpixels ``ids`` are all linked to each other."""
    out = adj.copy()
    out[np.ix_(ids, ids)] = True
    np.fill_diagonal(out, False)
    return out


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """(n, n) Euclidean distances between the rows of ``x``."""
    sq = (x * x).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0.0))


def geodesic_distances(adj: np.ndarray, weights: np.ndarray, sources: np.ndarray | None = None) -> np.ndarray:
    """Shortest-path lengths over the edges of ``adj`` weighted by ``weights`` (symmetric).

    All pairs (n, n) by default; with ``sources``, the (n,) distance to the nearest source,
    i.e. to a virtual node linked to every source at zero cost.
    """
    i, j = np.nonzero(np.triu(adj, 1))
    graph = csr_matrix((weights[i, j] + _EPS, (i, j)), shape=adj.shape)
    if sources is None:
        return dijkstra(graph, directed=False)
    return dijkstra(graph, directed=False, indices=sources, min_only=True)


def gaussian_weights(dist: np.ndarray, sigma: float) -> np.ndarray:
    """exp(-d^2 / 2 sigma^2), cut to 0 beyond 3 sigma (the RBD code's Dist2WeightMatrix)."""
    w = np.exp(-(dist**2) / (2 * sigma * sigma))
    w[dist > 3 * sigma] = 0.0
    return w
