"""RBD: saliency optimization from robust background detection (Zhu et al., CVPR 2014).

A region is background when it is strongly connected to the image boundary: its *boundary
connectivity* (the length of its soft perimeter on the boundary over the square root of its
soft area, both measured with geodesic colour distances) is high. Background probabilities
weight a colour contrast into a foreground cue, and a least-squares optimization combines
both cues with smoothness between neighbours, which drives the background towards 0.

Parameters follow the authors' released MATLAB code (``RBD`` package, 3/24/2014), which in
places differs from the paper:

- superpixels: SLIC, one per 600 pixels of the input image, compactness 20 (code); dilo
  counts them on the image as if scaled down to fit 500 px (``reference_side``: the code's
  count for photos up to 500 px, the benchmarks' and ImageNet's), and asks at most one per
  40 pixels of SLIC's working copy (see :func:`pretrain.saliency.graph.superpixel_count`):
  the code's count, taken from a multi-megapixel photo but laid on the working copy below,
  would be thousands of superpixels of a few pixels each, and dense n x n matrices;
- working resolution: dilo runs SLIC on a copy at most ``max_side`` (240) px on its longer
  side and resizes the map back (the code works at full size);
- colours: CIE Lab of each superpixel's mean RGB colour (code);
- boundary: superpixels within 8 px of the border, all linked to each other (code);
- geodesic edge weights: Lab distance minus ``clip`` (the mean distance of each superpixel
  to its nearest 2-ring neighbour), floored at 0 (code; the paper uses plain distances);
- sigma_geo = max(5, min(10, 3 mean_min1, mean_top / 10)) and sigma_smooth =
  min(3 mean_min1, 0.2 mean_top, 20), where mean_min1 is the mean distance of each
  superpixel to its nearest neighbour and mean_top the mean of the top 1 % neighbour
  distances (code; the paper fixes sigma_clr = 10);
- background probability 1 - exp(-bndcon^2 / 2) (sigma_bndcon = 1, paper and code), and a
  weight of 1000 for superpixels with bndcon > 3 (code);
- contrast weighted by exp(-d_spa^2 / 2 * 0.4^2) (code: 0.4; the paper says 0.25), min-max
  normalized, values under Otsu's threshold set to 0 (code);
- optimization: background term x 5 (code), smoothness over the 2-ring plus linked
  boundary, weights exp(-d^2 / 2 sigma_smooth^2) + 0.1 on direct neighbours (paper: mu = 0.1).

The authors' optional removal of artificial image frames is not implemented.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.filters import threshold_otsu

from .graph import (
    MIN_SUPERPIXEL_AREA,
    REFERENCE_SIDE,
    SuperpixelGraph,
    build_graph,
    gaussian_weights,
    geodesic_distances,
    link,
    pairwise_distances,
    superpixel_count,
    two_ring,
)
from .registry import SALIENCY_REGISTRY, check_image


def dynamic_parameters(graph: SuperpixelGraph, ring: np.ndarray, col_dist: np.ndarray) -> tuple[float, float, float]:
    """(clip, sigma_geo, sigma_smooth) from the image's neighbour colour statistics."""
    adj = graph.adjacency
    mean_min1 = float(np.where(adj, col_dist, np.inf).min(1).mean())
    neighbour = np.sort(col_dist[np.tril(adj, -1)])[::-1]
    mean_top = float(neighbour[: max(1, round(0.01 * neighbour.size))].mean())
    clip = float(np.where(ring, col_dist, np.inf).min(1).mean())
    sigma_geo = max(min(10.0, 3 * mean_min1, mean_top / 10), 5.0)
    sigma_smooth = min(3 * mean_min1, 0.2 * mean_top, 20.0)
    return clip, sigma_geo, max(sigma_smooth, 1e-6)


def boundary_connectivity(graph: SuperpixelGraph, col_dist: np.ndarray, clip: float, sigma: float) -> np.ndarray:
    """bndcon(p) = Len_bnd(p) / sqrt(Area(p)) with geodesic soft areas."""
    adj = link(graph.adjacency, graph.boundary)
    geo = geodesic_distances(adj, np.maximum(col_dist - clip, 0.0))
    w = gaussian_weights(geo, sigma)
    return w[:, graph.boundary].sum(1) / np.sqrt(w.sum(1))


def weighted_contrast(graph: SuperpixelGraph, col_dist: np.ndarray, bg_prob: np.ndarray) -> np.ndarray:
    """Foreground cue: colour contrast to nearby background, cleaned by Otsu's threshold."""
    w_spa = gaussian_weights(pairwise_distances(graph.mean_pos), 0.4)
    ctr = (col_dist * w_spa) @ bg_prob
    ctr = (ctr - ctr.min()) / (ctr.max() - ctr.min() + 1e-12)
    if np.ptp(ctr) > 0:
        ctr[ctr < threshold_otsu(ctr, nbins=256)] = 0.0
    return ctr


def optimize(
    graph: SuperpixelGraph,
    ring: np.ndarray,
    col_dist: np.ndarray,
    sigma: float,
    bg_weight: np.ndarray,
    fg_weight: np.ndarray,
) -> np.ndarray:
    """argmin_s sum bg_i s_i^2 + fg_i (s_i - 1)^2 + sum_ij w_ij (s_i - s_j)^2 (a linear solve)."""
    near = link(ring, graph.boundary)
    w = np.where(near, gaussian_weights(col_dist, sigma), 0.0) + 0.1 * graph.adjacency
    laplacian = np.diag(w.sum(1)) - w
    return np.linalg.solve(laplacian + np.diag(5.0 * bg_weight + fg_weight), fg_weight)


@SALIENCY_REGISTRY.register()
class RBD:
    """Robust background detection + saliency optimization; see the module docstring."""

    def __init__(
        self,
        pixels_per_superpixel: int = 600,
        compactness: float = 20.0,
        max_side: int = 240,
        boundary_width: int = 8,
        reference_side: int = REFERENCE_SIDE,
    ):
        self.pixels_per_superpixel = pixels_per_superpixel
        self.compactness = compactness
        self.max_side = max_side
        self.boundary_width = boundary_width
        self.reference_side = reference_side

    def parameters(self) -> dict[str, Any]:
        """Every setting the maps depend on (what a mask folder records), the fixed superpixel cap included."""
        return {
            "pixels_per_superpixel": self.pixels_per_superpixel,
            "compactness": self.compactness,
            "max_side": self.max_side,
            "boundary_width": self.boundary_width,
            "reference_side": self.reference_side,
            "min_superpixel_area": MIN_SUPERPIXEL_AREA,
        }

    def graph(self, image: np.ndarray) -> SuperpixelGraph:
        h, w = check_image(image).shape[:2]
        n = superpixel_count((h, w), self.pixels_per_superpixel, self.max_side, self.reference_side)
        return build_graph(image, n, self.compactness, self.max_side, self.boundary_width)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        graph = self.graph(image)
        if graph.n < 3:
            return np.zeros(graph.image_size, np.float32)
        col_dist = pairwise_distances(graph.mean_lab)
        ring = two_ring(graph.adjacency)
        clip, sigma_geo, sigma_smooth = dynamic_parameters(graph, ring, col_dist)
        bndcon = boundary_connectivity(graph, col_dist, clip, sigma_geo)
        bg_prob = 1.0 - np.exp(-(bndcon**2) / 2.0)
        bg_weight = np.where(bndcon > 3.0, 1000.0, bg_prob)
        fg_weight = weighted_contrast(graph, col_dist, bg_prob)
        return graph.paint(optimize(graph, ring, col_dist, sigma_smooth, bg_weight, fg_weight))
