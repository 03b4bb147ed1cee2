import numpy as np

from pretrain.saliency.graph import adjacency, build_graph, gaussian_weights, geodesic_distances, link, two_ring

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
