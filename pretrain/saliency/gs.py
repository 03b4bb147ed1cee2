"""GS: geodesic saliency using background priors (Wei et al., ECCV 2012).

The saliency of a region is the length of its shortest path to the image boundary over
colour differences: background regions reach the boundary cheaply, objects do not. Computed
on superpixels as in the RBD authors' package (which ships this GS implementation):

- superpixels, colours, boundary band and geodesic edge weights (Lab distance minus the
  ``clip`` value, floored at 0) exactly as in :mod:`pretrain.saliency.rbd`;
- boundary analysis: boundary superpixels that are distinctive among the boundary (their
  mean colour distance to the ``round(n / 200 * 5)`` most similar boundary superpixels,
  discounted by 1 + 3 x position distance, is in the upper half of the range when that range
  exceeds 1) are not used as background seeds: an object may touch the boundary;
- a virtual background node linked at zero cost to the seeds; saliency = geodesic distance
  to it, divided by the value at the top 2 % of superpixels and clipped to 1.
"""

from __future__ import annotations

import numpy as np

from .graph import SuperpixelGraph, geodesic_distances, link, pairwise_distances, two_ring
from .rbd import RBD, dynamic_parameters
from .registry import SALIENCY_REGISTRY


def background_seeds(graph: SuperpixelGraph, col_dist: np.ndarray, pos_dist: np.ndarray) -> np.ndarray:
    """Boundary superpixels that look like the rest of the boundary (the BoundaryAnalysis step)."""
    bd = graph.boundary
    k = max(1, min(round(graph.n / 200 * 5), len(bd) - 1))
    cmb = col_dist[np.ix_(bd, bd)] / (1 + 3 * pos_dist[np.ix_(bd, bd)])
    np.fill_diagonal(cmb, np.inf)
    mean_dist = np.sort(cmb, axis=1)[:, :k].mean(1)
    lo, hi = mean_dist.min(), mean_dist.max()
    if hi - lo <= 1:
        return bd
    return bd[(mean_dist - lo) / (hi - lo) <= 0.5]


@SALIENCY_REGISTRY.register()
class GS(RBD):
    """Geodesic saliency on RBD's superpixel graph; see the module docstring."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        graph = self.graph(image)
        if graph.n < 3:
            return np.zeros(graph.image_size, np.float32)
        col_dist = pairwise_distances(graph.mean_lab)
        clip, _, _ = dynamic_parameters(graph, two_ring(graph.adjacency), col_dist)
        seeds = background_seeds(graph, col_dist, pairwise_distances(graph.mean_pos))
        adj = link(graph.adjacency, graph.boundary)
        geo = geodesic_distances(adj, np.maximum(col_dist - clip, 0.0), sources=seeds)
        top = np.sort(geo)[::-1][max(0, round(0.02 * graph.n) - 1)]
        return graph.paint(np.minimum(geo / max(top, 1e-12), 1.0))
