import cv2
import numpy as np
import pytest

from pretrain.saliency import build_saliency, small_image_options
from pretrain.saliency.graph import (
    adjacency,
    build_graph,
    gaussian_weights,
    geodesic_distances,
    link,
    superpixel_count,
    two_ring,
)

LABELS = np.array(
    [
        [0, 0, 1, 1],
        [0, 0, 1, 1],
        [2, 2, 3, 3],
    ]
)


def test_adjacency_four_and_eight_connected():
    adj = adjacency(LABELS, 4)
    assert adj.tolist() == [
        [False, True, True, False],
        [True, False, False, True],
        [True, False, False, True],
        [False, True, True, False],
    ]
    assert adjacency(LABELS, 4, diagonal=True)[0, 3]  # 0 and 3 touch at a corner


def test_two_ring_and_link():
    chain = np.zeros((4, 4), bool)
    for i in range(3):
        chain[i, i + 1] = chain[i + 1, i] = True
    ring = two_ring(chain)
    assert ring[0, 2] and not ring[0, 3] and not ring.diagonal().any()
    linked = link(chain, np.array([0, 3]))
    assert linked[0, 3] and linked[3, 0] and not linked[0, 0]


def test_geodesic_distances_on_a_chain():
    chain = np.zeros((4, 4), bool)
    for i in range(3):
        chain[i, i + 1] = chain[i + 1, i] = True
    w = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 2], [0, 0, 2, 0]], float)  # edge 1-2 costs 0
    d = geodesic_distances(chain, w)
    assert np.allclose(d[0], [0, 1, 1, 3], atol=1e-6)  # a zero-cost edge is still an edge
    assert np.allclose(geodesic_distances(chain, w, sources=np.array([3])), [3, 2, 2, 0], atol=1e-6)


def test_gaussian_weights_cut_at_three_sigma():
    w = gaussian_weights(np.array([0.0, 1.0, 3.0, 3.01]), 1.0)
    assert np.allclose(w[:3], np.exp(-np.array([0.0, 0.5, 4.5])))
    assert w[3] == 0.0


def test_build_graph_statistics():
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, 40:] = (255, 0, 0)
    g = build_graph(img, num_superpixels=12, max_side=40)
    assert g.labels.shape == (30, 40) and g.image_size == (60, 80)
    assert g.n == g.labels.max() + 1 and g.mean_lab.shape == (g.n, 3)
    red = g.mean_lab[:, 1] > 50  # Lab a* of pure red is about 80
    assert red.any() and (~red).any()
    assert set(g.border) <= set(g.boundary)
    painted = g.paint(red.astype(float))
    assert painted.shape == (60, 80) and painted[:, -1].min() == 1.0 and painted[:, 0].max() == 0.0


@pytest.mark.parametrize(
    ("size", "pixels_per_superpixel"),
    [
        *[((321, 481), 600), ((481, 321), 600), ((375, 500), 600), ((500, 500), 600), ((64, 64), 600), ((7, 5), 600)],
        *[((64, 64), 40), ((64, 48), 40), ((61, 64), 40), ((7, 5), 40)],  # the small-image settings
    ],
)
def test_superpixel_count_is_the_authors_up_to_500_px(size, pixels_per_superpixel):
    """Photos up to 500 px (SOD, ImageNet) keep the count their masks were made with, and so their masks; so do
    the embedded ~64 px images with the small-image settings (40 px per superpixel: 102 on 64 x 64)."""
    before = max(2, round(size[0] * size[1] / pixels_per_superpixel))  # the rule up to this change
    assert superpixel_count(size, pixels_per_superpixel, 240) == before
    assert superpixel_count((64, 64), 40, 240) == 102


@pytest.mark.parametrize("size", [(3000, 4000), (4000, 3000), (13000, 13000), (1284, 1924)])
def test_superpixel_count_is_bounded_whatever_the_size(size):
    """A large photo gets the count of its 500 px version, and never more than one per 40 px of the 240 px copy."""
    h, w = size
    scale = 500 / max(h, w)
    assert superpixel_count(size, 600, 240) == round(h * w * scale * scale / 600)
    cap = round(round(h * 240 / max(h, w)) * round(w * 240 / max(h, w)) / 40)
    assert superpixel_count(size, 40, 240) == cap <= 240 * 240 / 40  # --small-images on a photo
    assert superpixel_count(size, 1, 240) == cap


def test_graph_of_a_large_photo_is_bounded():
    """The graph RBD and GS build for a 4000 x 3000 photo has as many superpixels as for its 500 px version,
    and at most about the cap with the small-image settings (SLIC returns up to a tenth more than it is asked)."""
    rng = np.random.default_rng(0)
    small = cv2.GaussianBlur(rng.integers(0, 256, (75, 100, 3), dtype=np.uint8), (5, 5), 0)
    photo = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    default = build_saliency("rbd").graph(photo)
    assert abs(default.n - 312) < 40 and default.labels.shape == (180, 240)  # 500 x 375: 312 asked
    small_images = build_saliency("rbd", **small_image_options("rbd"))
    assert small_images.graph(photo).n <= 1.2 * 1080  # 240 x 180 / 40
    saliency = small_images(photo)
    assert saliency.shape == (3000, 4000) and np.isfinite(saliency).all()
