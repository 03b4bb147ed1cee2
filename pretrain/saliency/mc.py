"""MC: saliency detection via absorbing Markov chain (Jiang et al., ICCV 2013).

Boundary superpixels are copied as absorbing states; a random walk starting from a
superpixel that resembles the background is absorbed quickly, one starting inside an object
wanders long. Saliency is the expected time to absorption, y = (I - Q)^-1 1.

Parameters follow the authors' released MATLAB code (``Saliency_Absorb_MC``):

- superpixels: SLIC, 250 of them, compactness 20; colours: CIE Lab of the mean RGB colour
  (the code averages per-pixel Lab; the difference is small); dilo runs SLIC on a copy at most
  ``max_side`` (240) px on its longer side. The count does not grow with the photo, so the
  graph is bounded without RBD's cap (:func:`pretrain.saliency.graph.superpixel_count`), which
  MC does not apply: on 64 px images it would change the count, and the embedded set's masks;
- graph: 8-connected neighbours, superpixels on opposite image borders linked (top-bottom,
  left-right), and neighbours of those neighbours; edge weight exp(-10 d) + 1e-5 with d the
  Lab distance min-max normalized over the edges, plus self-loops of weight 1;
- superpixels touching the border are the absorbing copies; if the weights from them into
  the image sum to at most 13 the border is taken for an artificial frame and the next ring
  of superpixels absorbs instead; superpixels whose total weight is below 1.1 are outliers,
  left out of the chain and made salient (1) when a neighbour's saliency exceeds 0.3;
- when the absorbed-time histogram is spread out (the code's "entropy" >= 2), time is
  re-weighted by the inverse equilibrium distribution (the paper's Sec. 3.3 refinement).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import SuperpixelGraph, adjacency, build_graph, pairwise_distances
from .registry import SALIENCY_REGISTRY, check_image


def mc_affinity(graph: SuperpixelGraph) -> tuple[np.ndarray, np.ndarray]:
    """(W, one_ring): the chain's affinity matrix (with self-loops) and the 8-connected ring."""
    labels = graph.labels
    ring = adjacency(labels, graph.n, diagonal=True)
    wrapped = ring.copy()
    wrapped[labels[0], labels[-1]] = True  # opposite borders are neighbours
    wrapped[labels[:, 0], labels[:, -1]] = True
    wrapped |= wrapped.T
    np.fill_diagonal(wrapped, False)
    w_ring = wrapped.astype(np.float32)
    edges = np.triu((w_ring @ w_ring + w_ring) > 0, 1)
    dist = pairwise_distances(graph.mean_lab)[edges]
    weights = np.exp(-10 * (dist - dist.min()) / max(float(np.ptp(dist)), 1e-12)) + 1e-5
    w = np.zeros((graph.n, graph.n))
    w[edges] = weights
    return w + w.T + np.eye(graph.n), ring


def absorbing_states(graph: SuperpixelGraph, w: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(absorbing, removed) boolean masks: border superpixels, or the next ring inside a frame."""
    border = np.zeros(graph.n, dtype=bool)
    border[graph.border] = True
    inward = ring[border] & ~border
    if w[border][inward].sum() > 13:
        return border, np.zeros_like(border)
    return inward.any(0), border  # a frame: its superpixels leave the chain


def absorbed_time(w: np.ndarray, absorbing: np.ndarray, transient: np.ndarray) -> np.ndarray:
    """Expected absorption time of the walk over ``transient`` (min-max normalized)."""
    degree = w.sum(1)[transient] + w[np.ix_(transient, absorbing)].sum(1)
    q = w[np.ix_(transient, transient)] / degree[:, None]
    n = np.eye(q.shape[0]) - q
    time = np.linalg.solve(n, np.ones(q.shape[0]))
    time = _normalize(time)
    bins = np.minimum(np.floor(time * 10).astype(int), 9)  # the code merges its 11th bin into the 10th
    hist = np.bincount(bins, minlength=10) / len(time)
    if (hist * np.minimum(np.arange(1, 11), np.arange(10, 0, -1))).sum() >= 2:
        stationary = w.sum(1)[transient]
        weights = 1.0 / (stationary / stationary.sum())
        time = _normalize(np.linalg.solve(n, weights / weights.sum()))
    return time


def _normalize(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else x


@SALIENCY_REGISTRY.register()
class MC:
    """Absorbing-Markov-chain saliency; see the module docstring."""

    def __init__(self, num_superpixels: int = 250, compactness: float = 20.0, max_side: int = 240):
        self.num_superpixels = num_superpixels
        self.compactness = compactness
        self.max_side = max_side

    def parameters(self) -> dict[str, Any]:
        """Every setting the maps depend on (what a mask folder records)."""
        return {"num_superpixels": self.num_superpixels, "compactness": self.compactness, "max_side": self.max_side}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        graph = build_graph(check_image(image), self.num_superpixels, self.compactness, self.max_side)
        if graph.n < 3:
            return np.zeros(graph.image_size, np.float32)
        w, ring = mc_affinity(graph)
        absorbing, removed = absorbing_states(graph, w, ring)
        outlier = w.sum(1) < 1.1
        removed |= outlier
        saliency = np.zeros(graph.n)
        transient = ~removed
        saliency[transient] = absorbed_time(w, absorbing, transient)
        salient_neighbour = (ring[outlier] & (saliency > 0.3)[None]).any(1)
        saliency[np.flatnonzero(outlier)[salient_neighbour]] = 1.0
        return graph.paint(saliency)
