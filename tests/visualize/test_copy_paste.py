"""The copy-paste preview (Fig. 4): grid geometry, mask and foreground cells, and tools/visualize.py as users run it."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pretrain.augment.backgrounds import texture_source
from pretrain.visualize.copy_paste import Sample, copy_paste_figure, load_samples
from pretrain.visualize.grid import HEADER, write_png
from tests.conftest import REPO

TOOL = os.path.join(REPO, "tools", "visualize.py")
CELL = (40, 60)  # the hand-made images are cell-sized, so cells hold them unscaled
GAP = 2


def cell(figure: np.ndarray, row: int, col: int) -> np.ndarray:
    """Cell (row, col) of a figure made with CELL and GAP (row 0 is the first image, below the header)."""
    y = HEADER + GAP + row * (CELL[0] + GAP)
    x = col * (CELL[1] + GAP)
    return figure[y : y + CELL[0], x : x + CELL[1]]


def make_sample(seed: int, shape: tuple[int, int] = CELL) -> Sample:
    """Random colors with a big foreground rectangle covering the middle of the image."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[shape[0] // 5 : -shape[0] // 5, shape[1] // 5 : -shape[1] // 5] = 255
    return Sample(image, mask)


def write_tree(root, samples: list[Sample], names: list[str]) -> tuple[str, str]:
    """images/<name>.png and masks/<name>.png under ``root``."""
    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    for s, name in zip(samples, names, strict=True):
        assert cv2.imwrite(str(images / f"{name}.png"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        assert cv2.imwrite(str(masks / f"{name}.png"), s.mask)
    return str(images), str(masks)


texture = texture_source(["green"], lambda _: np.full((8, 8, 3), (0, 255, 0), np.uint8))  # a plain green texture


@pytest.mark.parametrize(("with_texture", "gaussian", "cols"), [(True, True, 6), (False, True, 5), (False, False, 4)])
def test_grid_size(with_texture, gaussian, cols):
    samples = [make_sample(0), make_sample(1, (30, 90)), make_sample(2, (80, 20))]  # letterboxed both ways
    figure = copy_paste_figure(samples, texture if with_texture else None, gaussian=gaussian, cell=CELL, gap=GAP)
    assert figure.dtype == np.uint8
    assert figure.shape == (HEADER + 3 * (CELL[0] + GAP), cols * CELL[1] + (cols - 1) * GAP, 3)
    assert (figure[HEADER : HEADER + GAP] == 255).all()  # white gap under the header
    assert (figure[:, CELL[1] : CELL[1] + GAP] == 255).all()  # white gap between columns
    assert (figure[:HEADER] < 128).any()  # titles are drawn


def test_cells_show_original_mask_and_foreground():
    samples = [make_sample(0), make_sample(1)]
    figure = copy_paste_figure(samples, texture, seed=3, cell=CELL, gap=GAP)
    for row, s in enumerate(samples):
        np.testing.assert_array_equal(cell(figure, row, 0), s.image)
        np.testing.assert_array_equal(cell(figure, row, 1), np.repeat(s.mask[..., None], 3, axis=2))
        center = (slice(15, 25), slice(20, 40))  # well inside the foreground rectangle
        for col in (2, 3, 4, 5):  # gray, texture, image, image + gaussian
            got = cell(figure, row, col)
            np.testing.assert_allclose(got[center], s.image[center], atol=1)
            assert not np.array_equal(got[0:4, 0:4], s.image[0:4, 0:4])  # the background was replaced
        assert (cell(figure, row, 3)[0:4, 0:4] == (0, 255, 0)).all()  # texture column pastes on the texture


def test_deterministic_given_seed():
    samples = [make_sample(0), make_sample(1), make_sample(2)]
    a = copy_paste_figure(samples, seed=5, cell=CELL, gap=GAP)
    np.testing.assert_array_equal(a, copy_paste_figure(samples, seed=5, cell=CELL, gap=GAP))
    assert not np.array_equal(a, copy_paste_figure(samples, seed=6, cell=CELL, gap=GAP))


def test_write_png_round_trips_rgb(tmp_path):
    figure = copy_paste_figure([make_sample(0)], cell=CELL, gap=GAP)
    path = str(tmp_path / "sub" / "fig.png")
    write_png(path, figure)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB), figure)


def test_texture_source_from_files(tmp_path):
    path = str(tmp_path / "t.png")
    assert cv2.imwrite(path, np.full((50, 50, 3), 7, np.uint8))
    source = texture_source([path], lambda p: cv2.imread(p)[..., ::-1])
    figure = copy_paste_figure([make_sample(0)], source, cell=CELL, gap=GAP)
    assert (cell(figure, 0, 3)[0:4, 0:4] == 7).all()


def test_load_sample_missing_mask_names_path(tmp_path):
    images, masks = write_tree(tmp_path, [make_sample(0)], ["a"])
    os.remove(os.path.join(masks, "a.png"))
    with pytest.raises(FileNotFoundError, match=r"masks/a\.png"):
        load_samples(images, masks, ["a.png"])


def test_images_sharing_a_stem_show_their_own_masks(tmp_path):
    """``x.jpg`` and ``x.png`` in one folder: masks ``x.jpg.png`` and ``x.png.png``, not one ``x.png`` for both."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name, value in (("x.jpg", 100), ("x.png", 200)):
        assert cv2.imwrite(str(images / name), np.zeros((6, 8, 3), np.uint8))
        assert cv2.imwrite(str(masks / f"{name}.png"), np.full((6, 8), value, np.uint8))
    assert cv2.imwrite(str(masks / "x.png"), np.full((6, 8), 7, np.uint8))  # the old shared name: not read
    samples = load_samples(str(images), str(masks), ["x.png", "x.jpg"])
    assert [int(s.mask.max()) for s in samples] == [200, 100]
    assert int(load_samples(str(images), str(masks), ["x.jpg"])[0].mask.max()) == 100


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=300, cwd=REPO)


def test_tool_writes_png(tmp_path):
    samples = [make_sample(i) for i in range(4)]
    images, masks = write_tree(tmp_path, samples, ["a", "b", "c", "d"])
    textures = tmp_path / "textures"
    textures.mkdir()
    assert cv2.imwrite(str(textures / "t.jpg"), np.full((64, 64, 3), 100, np.uint8))
    out = tmp_path / "fig.png"
    result = run_tool(
        "copy-paste", "--images", images, "--masks", masks, "--textures", str(textures),
        "--num", "3", "--seed", "1", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figure = cv2.imread(str(out))
    assert figure is not None
    assert figure.shape == (HEADER + 3 * (160 + 4), 6 * 240 + 5 * 4, 3)  # default cell 160 x 240, gap 4


def test_tool_missing_mask_fails_naming_path(tmp_path):
    images, masks = write_tree(tmp_path, [make_sample(0), make_sample(1)], ["a", "b"])
    os.remove(os.path.join(masks, "b.png"))
    out = tmp_path / "fig.png"
    result = run_tool("copy-paste", "--images", images, "--masks", masks, "--out", str(out))
    assert result.returncode != 0
    assert os.path.join(masks, "b.png") in result.stderr
    assert not out.exists()
