import os

import cv2
import numpy as np
import pytest

from pretrain.augment import (
    CopyPaste,
    PasteOutcome,
    background_crop,
    binarize,
    cover_crop,
    least_salient_window,
    texture_source,
)
from pretrain.augment.backgrounds import GrayLevel, background_tile
from pretrain.augment.copy_paste import GRAY, background_mask, crop_mask
from pretrain.utils.image_io import bounded_size
from tests.conftest import shared_data


def _case():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3) + 10
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 3:6] = 200
    return image, mask


def test_direct_copy_keeps_foreground_and_replaces_background():
    image, mask = _case()
    out, status = CopyPaste(prob=1.0)(image, mask, np.random.default_rng(0))
    fg = mask > 0
    assert status == PasteOutcome.PASTED
    assert np.array_equal(out[fg], image[fg])
    bg = out[~fg]
    assert (bg == bg[0, 0]).all()  # one uniform gray level
    assert not np.array_equal(bg, image[~fg])


def test_threshold_decides_the_foreground():
    mask = np.array([[0, 127, 128, 255]], np.uint8)
    assert binarize(mask, 0.5).tolist() == [[False, False, True, True]]
    assert binarize(mask, 1.0).tolist() == [[False, False, False, True]]


def test_gaussian_blend_is_an_alpha_composite():
    image, mask = _case()
    cp = CopyPaste(prob=1.0, blend="gaussian", blur_sigma=1.5)
    out, _ = cp(image, mask, np.random.default_rng(3))
    level = np.random.default_rng(3)
    level.random()  # the draw that decided to paste
    gray = level.integers(0, 256)
    alpha = cv2.GaussianBlur((mask >= 128).astype(np.float32), (0, 0), 1.5)[..., None]
    expected = np.round(alpha * image + (1 - alpha) * gray).astype(np.uint8)
    assert np.array_equal(out, expected)


def test_mix_uses_both_blends():
    _, mask = _case()
    image = np.zeros((6, 8, 3), np.uint8)
    image[..., 1], image[..., 2] = 128, 255  # channels differ: any blending shows
    cp = CopyPaste(prob=1.0, blend="mix")
    rng = np.random.default_rng(0)
    edges = []
    for _ in range(200):
        out, _ = cp(image, mask, rng)
        edge = out[2, 2].astype(int)  # just outside the foreground: blended only by the Gaussian
        edges.append(not (edge == edge[0]).all())
    assert 0.3 < np.mean(edges) < 0.7


def test_probability_is_respected():
    image, mask = _case()
    cp, rng = CopyPaste(prob=0.3), np.random.default_rng(1)
    pasted = np.mean([cp(image, mask, rng)[1] == PasteOutcome.PASTED for _ in range(4000)])
    assert abs(pasted - 0.3) < 0.03


def test_empty_mask_leaves_the_image_unchanged():
    image, _ = _case()
    out, status = CopyPaste(prob=1.0)(image, np.full((6, 8), 90, np.uint8), np.random.default_rng(0))
    assert status == PasteOutcome.EMPTY and out is image


def test_texture_and_image_backgrounds():
    texture = np.zeros((30, 40, 3), np.uint8)
    texture[..., 2] = 255
    draw = texture_source(["t.png"], lambda path: texture)
    image, mask = _case()
    out, _ = CopyPaste(prob=1.0, background="texture")(image, mask, np.random.default_rng(0), draw)
    assert (out[mask == 0] == (0, 0, 255)).all()
    assert cover_crop(texture, (50, 20), np.random.default_rng(0)).shape == (50, 20, 3)
    with pytest.raises(ValueError, match="TEXTURE_ROOT"):
        texture_source([], lambda p: texture)


def test_a_gray_tile_is_one_pixel_and_other_backgrounds_are_rendered():
    """What the batched executor broadcasts (a gray level) or takes as it is (a texture window at the crop's size)."""
    gray = background_tile(GRAY, GrayLevel(7), (50, 20))
    assert gray.shape == (1, 1, 3) and gray.dtype == np.uint8 and (gray == 7).all()
    texture = np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)
    source = texture_source(["t.png"], lambda path: texture)
    window = source.draw(np.random.default_rng(1), (50, 20))
    assert np.array_equal(background_tile(source, window, (50, 20)), source.render(window, (50, 20)))


def test_image_background_avoids_the_salient_part():
    other = np.zeros((40, 40, 3), np.uint8)
    other[:, 20:] = 255  # the salient right half is white
    saliency = np.zeros((40, 40), np.uint8)
    saliency[:, 20:] = 255
    crop = background_crop(other, saliency, (10, 10), np.random.default_rng(0), tries=16)
    assert crop.shape == (10, 10, 3) and crop.mean() < 64


def test_bad_settings_are_named():
    for kwargs, key in (({"prob": 1.5}, "PROB"), ({"background": "noise"}, "BACKGROUND"), ({"blend": "x"}, "BLEND")):
        with pytest.raises(ValueError, match=key):
            CopyPaste(**kwargs)


def test_least_salient_window_reports_its_saliency():
    saliency = np.full((40, 40), 255, np.uint8)
    saliency[:20, :20] = 0  # only the top-left quarter is background
    rows, cols, mean = least_salient_window(saliency, np.random.default_rng(0), tries=200)
    assert (rows, cols) == (slice(0, 20), slice(0, 20)) and mean == 0.0
    assert least_salient_window(np.full((40, 40), 255, np.uint8), np.random.default_rng(0))[2] == 1.0


def test_binarize_on_uint8_is_the_float_threshold():
    """The integer comparison on uint8 masks gives exactly the foreground of value >= threshold x 255."""
    values = np.arange(256, dtype=np.uint8)
    for threshold in (0.001, 0.3, 0.5, 128 / 255, 0.7, 1.0):
        assert np.array_equal(binarize(values, threshold), values.astype(np.float64) >= threshold * 255.0)


def test_background_mask_is_the_negated_foreground():
    """OpenCV's threshold on uint8 masks and the negation on float masks give 1 exactly where binarize says
    background, for every 8-bit value and threshold."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for threshold in (0.001, 0.3, 0.5, 128 / 255, 0.7, 1.0):
        expected = (~binarize(values, threshold)).astype(np.uint8)
        for mask in (values, values.astype(np.float32)):
            background = background_mask(mask, threshold)
            assert background.dtype == np.uint8 and np.array_equal(background, expected)
        own = values.copy()
        assert background_mask(own, threshold, in_place=True) is own and np.array_equal(own, expected)
        held = values.copy()
        held.flags.writeable = False  # e.g. a mask straight from the mask pack: never written
        assert np.array_equal(background_mask(held, threshold, in_place=True), expected)
        assert np.array_equal(held, values)


def test_a_bounded_mask_crops_as_its_full_size_mask():
    """A mask stored at a bounded size is cut at the box scaled to it: the crop's foreground is the full-size
    mask's but for its edge (IoU > 0.95 over random boxes), while a box off by 8 px is clearly worse."""
    full = np.zeros((375, 500), np.uint8)
    cv2.ellipse(full, (260, 170), (130, 90), 20, 0, 360, 255, -1)
    stored = cv2.resize(full, (256, 192), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)

    def iou(a, b):
        return (a & b).sum() / max(1, (a | b).sum())

    for _ in range(20):
        h, w = rng.integers(120, 375), rng.integers(120, 500)
        box = (int(rng.integers(0, 376 - h)), int(rng.integers(0, 501 - w)), int(h), int(w))
        exact = binarize(crop_mask(full, box, (224, 224)), 0.5)
        if not 0.05 < exact.mean() < 0.95:
            continue
        assert iou(binarize(crop_mask(stored, box, (224, 224), (500, 375)), 0.5), exact) > 0.95
        off = (box[0], max(0, box[1] - 8), box[2], box[3]) if box[1] >= 8 else (box[0], box[1] + 8, *box[2:])
        assert iou(binarize(crop_mask(stored, off, (224, 224), (500, 375)), 0.5), exact) < iou(
            binarize(crop_mask(stored, box, (224, 224), (500, 375)), 0.5), exact
        )
    assert np.array_equal(
        crop_mask(full, (10, 20, 100, 150), (224, 224), (500, 375)), crop_mask(full, (10, 20, 100, 150), (224, 224))
    )


@pytest.mark.parametrize("background", ["gray", "texture"])
def test_the_composite_is_a_copy_with_the_foreground_formula(background):
    """On real VOC crops with soft 128 px masks: the composite leaves the crop alone and is the crop where the
    cut mask >= threshold, the background elsewhere."""
    src = shared_data("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
    rng = np.random.default_rng(0)
    textures = [rng.integers(0, 256, (300, 400, 3), np.uint8)]
    source = texture_source(["t"], lambda _: textures[0]) if background == "texture" else None
    cp = CopyPaste(1.0, background)
    backgrounds = cp.backgrounds(source)
    for name in sorted(os.listdir(src))[:8]:
        photo = cv2.imread(os.path.join(src, name))[..., ::-1]
        size = (photo.shape[1], photo.shape[0])
        mask = cv2.resize(photo[..., 1], bounded_size(size, 128), interpolation=cv2.INTER_AREA)
        box = (20, 30, photo.shape[0] - 60, photo.shape[1] - 90)
        crop = np.ascontiguousarray(cv2.resize(photo[20:-40, 30:-60], (224, 224)))
        paste = cp.toss_and_draw(np.random.default_rng(1), (224, 224), backgrounds)
        kept = crop.copy()
        copied, status = cp.paste_crop(crop, mask, box, paste, backgrounds, size)
        assert status == PasteOutcome.PASTED and np.array_equal(crop, kept)
        foreground = binarize(crop_mask(mask, box, (224, 224), size), cp.threshold)[..., None]
        expected = np.where(foreground, kept, backgrounds.render(paste.background, (224, 224)))
        assert np.array_equal(copied, expected)
