"""ImageNet-9 backgrounds: each variant's pixels, the background draws, the released layout and the challenge score."""

import os

import cv2
import numpy as np
import pytest

from pretrain.diagnosis.backgrounds import (
    IN9_CLASSES,
    authors_frame,
    background_sources,
    bg_gap,
    binary_mask,
    challenge_accuracy,
    challenge_backgrounds,
    mask_box,
    mixed,
    no_fg,
    only_bg_b,
    only_bg_t,
    only_fg,
    read_in9,
    tile_strip,
)

H, W = 12, 16


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A random 12 x 16 image and a 0/255 foreground: rows 3..7, columns 5..10, less its top-left corner."""
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), np.uint8)
    mask[3:8, 5:11] = 255
    mask[3, 5] = 0  # inside the box, outside the mask: tells the box variants from the mask variants
    return image, mask


def test_binary_mask_reads_eight_bit_zero_one_bool_and_float_masks():
    m = np.array([[0, 127, 128, 255]], np.uint8)
    assert binary_mask(m).tolist() == [[False, False, True, True]]  # saliency / 0-255: foreground at >= 128
    assert binary_mask(np.array([[0, 1, 1, 0]], np.uint8)).tolist() == [[False, True, True, False]]  # the .npy masks
    assert binary_mask(np.array([[True, False]])).tolist() == [[True, False]]
    assert binary_mask(np.array([[0.49, 0.5]])).tolist() == [[False, True]]
    with pytest.raises(ValueError, match="H x W"):
        binary_mask(np.zeros((2, 2, 1), np.uint8))


def test_mask_box_is_the_tight_half_open_rectangle():
    _, mask = scene()
    assert mask_box(mask) == (5, 3, 11, 8)
    with pytest.raises(ValueError, match="no foreground"):
        mask_box(np.zeros((4, 4), np.uint8))


def test_only_fg_keeps_the_mask_and_blacks_the_rest_and_no_fg_is_its_complement():
    image, mask = scene()
    fg = mask == 255
    a, b = only_fg(image, mask), no_fg(image, mask)
    assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape == image.shape
    assert (a[fg] == image[fg]).all() and (a[~fg] == 0).all()
    assert (b[fg] == 0).all() and (b[~fg] == image[~fg]).all()
    assert (a + b == image).all()  # disjoint: together they are the image


def test_only_bg_b_blacks_the_whole_box_not_just_the_mask():
    image, mask = scene()
    out = only_bg_b(image, mask_box(mask))
    box = np.zeros((H, W), bool)
    box[3:8, 5:11] = True
    assert (out[box] == 0).all()  # (3, 5) too, which the mask leaves out
    assert (out[~box] == image[~box]).all()


def reference_tiled(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The tiling rule pixel by pixel: the four margins compared as the module doc says, then modular repetition."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    left, right, top, bottom = x0, w - x1, y0, h - y1
    if max(left, right) * h > max(top, bottom) * w:
        r0, r1, c0, c1 = (0, h, 0, x0) if left > right else (0, h, x1, w)
    else:
        r0, r1, c0, c1 = (0, y0, 0, w) if top > bottom else (y1, h, 0, w)
    out = image.copy()
    for y in range(y0, y1):
        for x in range(x0, x1):
            out[y, x] = image[r0 + y % (r1 - r0), c0 + x % (c1 - c0)]
    return out


@pytest.mark.parametrize(
    ("box", "strip"),
    [
        ((5, 3, 11, 8), (slice(8, 12), slice(0, 16))),  # sides 5*12=60 < bands 4*16=64: the bottom band (4 > 3)
        ((10, 2, 14, 10), (slice(0, 12), slice(0, 10))),  # left, 10 wide, beats right (2) and the bands (2*16)
        ((1, 1, 4, 11), (slice(0, 12), slice(4, 16))),  # right, 12 wide
        ((0, 6, 16, 12), (slice(0, 6), slice(0, 16))),  # no side margin: the top band
        ((4, 3, 16, 12), (slice(0, 3), slice(0, 16))),  # a tie, 4*12 = 3*16: the bands win
        ((2, 2, 14, 10), (slice(10, 12), slice(0, 16))),  # margins equal in each pair: the bands, then the bottom
    ],
)
def test_only_bg_t_fills_the_box_from_the_largest_margin_strip_tiled_from_the_corner(box, strip):
    image, _ = scene()
    assert tile_strip(H, W, box) == strip
    out = only_bg_t(image, box)
    assert (out == reference_tiled(image, box)).all()
    x0, y0, x1, y1 = box
    outside = np.ones((H, W), bool)
    outside[y0:y1, x0:x1] = False
    assert (out[outside] == image[outside]).all()


def test_only_bg_t_by_hand_and_with_nothing_to_tile():
    image = np.broadcast_to(np.arange(6, dtype=np.uint8)[None, :, None], (4, 6, 3)).copy()  # pixel value = column
    # Side margins 2 and 2 (bands 0): the right strip, columns 4 and 5, repeated from x = 0: x=2 -> 4, x=3 -> 5.
    assert only_bg_t(image, (2, 0, 4, 4))[0, :, 0].tolist() == [0, 1, 4, 5, 4, 5]
    with pytest.raises(ValueError, match="covers the whole"):
        only_bg_t(image, (0, 0, 6, 4))
    with pytest.raises(ValueError, match="empty or leaves"):
        only_bg_t(image, (2, 0, 7, 4))


def test_mixed_keeps_the_foreground_exactly_and_takes_the_background_elsewhere():
    image, mask = scene()
    other = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    other_mask = np.zeros((H, W), np.uint8)
    other_mask[1:5, 2:6] = 255
    bg = only_bg_t(other, mask_box(other_mask))
    assert (bg == only_bg_t(other, (2, 1, 6, 5))).all()  # the source's own object tiled over
    out = mixed(image, mask, bg)
    fg = mask == 255
    assert (out[fg] == image[fg]).all() and (out[~fg] == bg[~fg]).all()
    assert out[3, 5].tolist() == bg[3, 5].tolist()  # in the box, off the mask: background
    with pytest.raises(ValueError, match="background"):
        mixed(image, mask, bg[:, :-1])


@pytest.mark.parametrize("shape", [(300, 400), (375, 500), (500, 333), (256, 256), (100, 130)])
def test_authors_frame_equals_torchvision_resize_nearest_and_center_crop(shape):
    torchvision = pytest.importorskip("torchvision")
    from PIL import Image

    t = torchvision.transforms
    ref = t.Compose([t.Resize(256, t.InterpolationMode.NEAREST), t.CenterCrop(256)])
    image = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = np.random.default_rng(3).random(shape) < 0.3
    assert (authors_frame(image) == np.array(ref(Image.fromarray(image)))).all()
    framed = authors_frame(mask)
    assert framed.dtype == bool and framed.shape == (256, 256)
    assert (framed == (np.array(ref(Image.fromarray(mask.astype(np.uint8) * 255))) == 255)).all()


def test_background_sources_follow_the_class_rules_and_never_return_the_sample():
    labels = np.repeat(np.arange(5), [2, 3, 4, 6, 7])[np.random.default_rng(4).permutation(22)]
    for seed in range(20):
        src = background_sources(labels, seed)
        assert set(src) == {"mixed_same", "mixed_rand", "mixed_next"}
        for s in src.values():
            assert (s != np.arange(22)).all()
        assert (labels[src["mixed_same"]] == labels).all()
        assert (labels[src["mixed_next"]] == (labels + 1) % 5).all()  # class 4 takes class 0's backgrounds
    a, b = background_sources(labels, 7), background_sources(labels, 7)
    assert all((a[k] == b[k]).all() for k in a)
    assert any((a[k] != background_sources(labels, 8)[k]).any() for k in a)


def test_mixed_rand_draws_every_class_evenly_its_own_included():
    labels = np.repeat(np.arange(9), 200)
    drawn = labels[background_sources(labels, 0)["mixed_rand"]]
    # Each of the 9 classes with probability 1/9: 200 of 1800, sd sqrt(1800 * 1/9 * 8/9) = 13.3; 5 sd = 67.
    assert np.abs(np.bincount(drawn, minlength=9) - 200).max() < 67
    same = (drawn == labels).mean()  # own class 1/9, sd 0.0074
    assert abs(same - 1 / 9) < 0.037
    small = np.array([0, 0, 0, 1, 1])  # Mixed-Same within class 0: the two others, about evenly
    picks = np.array([background_sources(small, s)["mixed_same"][0] for s in range(400)])
    assert set(picks.tolist()) == {1, 2} and abs((picks == 1).mean() - 0.5) < 0.1  # sd 0.025


def test_background_sources_refuse_classes_without_a_second_image():
    with pytest.raises(ValueError, match="each with >= 2 samples"):
        background_sources(np.array([0, 0, 1]), 0)
    with pytest.raises(ValueError, match="each with >= 2 samples"):
        background_sources(np.array([0, 0, 1, 1]), 0, num_classes=3)  # class 2 is empty


def write_tree(root: str, variants: tuple[str, ...], per_class: int = 2) -> None:
    for variant in variants:
        for c in IN9_CLASSES:
            folder = os.path.join(root, variant, "val", c)
            os.makedirs(folder)
            for i in range(per_class):
                stem = f"n0{i}_{i:05d}"
                if variant == "fg_mask":
                    np.save(os.path.join(folder, stem + ".npy"), np.eye(4, dtype=np.uint8))
                else:
                    assert cv2.imwrite(os.path.join(folder, stem + ".JPEG"), np.full((4, 4, 3), 9, np.uint8))


def test_read_in9_lists_each_variant_by_class_then_name(tmp_path):
    root = tmp_path / "bg_challenge"
    write_tree(str(root), ("original", "only_bg_t", "mixed_rand", "fg_mask"))
    (root / "original" / "val" / IN9_CLASSES[3] / "notes.txt").write_text("not an image")
    (root / "in9l").mkdir()  # a folder of another download: ignored
    found = read_in9(str(tmp_path))  # the folder holding bg_challenge works too
    assert found == read_in9(str(root))
    assert set(found) == {"original", "only_bg_t", "mixed_rand", "fg_mask"}
    original = found["original"]
    assert [label for _, label in original] == [c for c in range(9) for _ in range(2)]
    assert original[0][0] == str(root / "original" / "val" / "00_dog" / "n00_00000.JPEG")
    assert original[-1][0] == str(root / "original" / "val" / "08_fish" / "n01_00001.JPEG")
    assert all(p.endswith(".npy") for p, _ in found["fg_mask"])
    assert cv2.imread(original[5][0]).shape == (4, 4, 3)


def test_read_in9_names_the_folder_and_what_it_expected(tmp_path):
    write_tree(str(tmp_path), ("original",))
    os.rename(tmp_path / "original" / "val" / "02_wheeled vehicle", tmp_path / "original" / "val" / "02_vehicle")
    with pytest.raises(ValueError, match=r"original/val.*must hold the class folders.*02_wheeled vehicle"):
        read_in9(str(tmp_path))
    os.rename(tmp_path / "original" / "val" / "02_vehicle", tmp_path / "original" / "val" / "02_wheeled vehicle")
    assert len(read_in9(str(tmp_path))["original"]) == 18
    (tmp_path / "no_fg").mkdir()
    with pytest.raises(ValueError, match=r"no_fg' has no val/ folder"):
        read_in9(str(tmp_path))
    empty = tmp_path / "empty"
    write_tree(str(empty), ("only_fg",), per_class=0)
    with pytest.raises(ValueError, match=r"00_dog' holds no file"):
        read_in9(str(empty))
    with pytest.raises(ValueError, match="holds none of the IN-9 folders"):
        read_in9(str(tmp_path / "original" / "val"))


def brute_force(correct: np.ndarray) -> float:
    """Loop over foregrounds; one counts only when no background makes it wrong."""
    kept = 0
    for f in range(correct.shape[0]):
        fooled = False
        for b in range(correct.shape[1]):
            if not correct[f, b]:
                fooled = True
        kept += not fooled
    return kept / correct.shape[0]


def test_challenge_accuracy_equals_brute_force_and_the_sample_says_so():
    correct = np.random.default_rng(5).random((40, 11)) < 0.93
    full = challenge_accuracy(correct)
    assert full.accuracy == brute_force(correct) and 0 < full.accuracy < 1
    assert (full.foregrounds, full.backgrounds, full.pool, full.sampled) == (40, 11, 11, False)
    cols = challenge_backgrounds(11, 4, seed=3)
    assert len(set(cols.tolist())) == 4 and (np.diff(cols) > 0).all() and cols.max() < 11
    part = challenge_accuracy(correct[:, cols], pool=11)
    assert part.accuracy == brute_force(correct[:, cols])
    assert (part.backgrounds, part.pool, part.sampled) == (4, 11, True)
    assert part.accuracy >= full.accuracy  # fewer backgrounds, fewer chances to fail
    assert (challenge_backgrounds(11, 4, seed=3) == cols).all()
    assert (challenge_backgrounds(11, None) == np.arange(11)).all() and len(challenge_backgrounds(11, 50)) == 11
    with pytest.raises(ValueError, match="pool holds only 3"):
        challenge_accuracy(correct, pool=3)
    with pytest.raises(ValueError, match="bool F x B"):
        challenge_accuracy(correct.astype(int))


def test_bg_gap_is_mixed_same_minus_mixed_rand():
    assert bg_gap(86.2, 78.9) == pytest.approx(7.3)  # ResNet-50 in the authors' README
    assert bg_gap(0.715, 0.713) == pytest.approx(0.002)


def test_a_background_reader_is_at_chance_on_mixed_rand_and_perfect_on_mixed_same():
    """10 classes: background colour 20c + 5, object 200 + c on a square away from the corner.

    One reader looks at the corner (background only), the other at the brightest pixel (object only).
    """
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(10), 100)
    images, masks = [], []
    for c in labels:
        image = np.full((8, 8, 3), 20 * c + 5, np.uint8)
        mask = np.zeros((8, 8), np.uint8)
        y, x = rng.integers(2, 5, 2)
        mask[y : y + 3, x : x + 3] = 255
        image[mask == 255] = 200 + c
        images.append(image)
        masks.append(mask)
    backgrounds = [only_bg_t(im, mask_box(m)) for im, m in zip(images, masks, strict=True)]

    def reads_background(im):
        return (int(im[0, 0, 0]) - 5) // 20

    def reads_object(im):
        return int(im.max()) - 200

    acc = {}
    for name, src in background_sources(labels, seed=0).items():
        composites = [mixed(images[i], masks[i], backgrounds[j]) for i, j in enumerate(src)]
        for reader in (reads_background, reads_object):
            pred = np.array([reader(im) for im in composites])
            acc[name, reader.__name__] = (pred == labels).mean()
    assert acc["mixed_same", "reads_background"] == 1.0 and acc["mixed_next", "reads_background"] == 0.0
    # Mixed-Rand: right only when the drawn class is its own, p = 1/10; n = 1000, sd 0.0095, 4 sd = 0.038.
    assert abs(acc["mixed_rand", "reads_background"] - 0.1) < 0.038
    assert all(acc[name, "reads_object"] == 1.0 for name in ("mixed_same", "mixed_rand", "mixed_next"))
    assert bg_gap(acc["mixed_same", "reads_background"], acc["mixed_rand", "reads_background"]) > 0.85
    # The challenge on a few foregrounds over 100 backgrounds (ten per class): the background reader is
    # fooled by every other class's background, the object reader never.
    fgs, bgs = range(0, 1000, 97), range(0, 1000, 10)
    for reader, expected in ((reads_background, 0.0), (reads_object, 1.0)):
        correct = np.array(
            [[reader(mixed(images[f], masks[f], backgrounds[b])) == labels[f] for b in bgs] for f in fgs]
        )
        assert challenge_accuracy(correct).accuracy == expected
