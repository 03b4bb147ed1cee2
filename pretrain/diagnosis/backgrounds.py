"""ImageNet-9 backgrounds (Xiao, Engstrom, Ilyas, Madry, "Noise or Signal", ICLR 2021): variants, draws, score.

Sources. [G] the authors' generation script, github.com/rabbit-abacus/roleofimagebackgrounds ``main.py``
(June 2020, released with the submission; one ImageNet synset at a time, Mixed-Same only). [E] their
evaluation repository github.com/MadryLab/backgrounds_challenge: ``challenge_eval.py``, ``in9_eval.py``,
``tools/model_utils.py`` (``adv_bgs_eval_model``), ``tools/folder.py``, ``in9_classes.txt``, ``README.md``;
its five commits (June to October 2020) change links and model loading, never the protocol. [P] the paper, of
which only the abstract and introduction could be read here: the rules below rest on [G] and [E].

The authors' construction
- Kept images [G ``is_good_image``]: exactly one annotated box; the box fills at most 90% of the 224 centre
  crop and at least half of it lies inside that crop. Foreground [G ``get_fg_mask``]: OpenCV GrabCut, 5
  iterations, started from the box; definite or probable foreground is 1, all else 0 (a binary mask, inside
  the box). A mask covering under 10% of the box drops the image (the mixing pass retries up to 11 times).
- Only-FG is the image times the mask (black elsewhere); No-FG the image times (1 - mask) [G ``main``].
- Only-BG-B blacks out the whole box, not the mask [G ``blackout``].
- Only-BG-T fills the box from one strip of the same image [G ``get_bg_tiled``]. The candidates are the
  full-height strips left and right of the box and the full-width strips above and below it. The wider side
  strip's area is compared with the taller top/bottom strip's area; the sides win only when strictly larger;
  within a pair the left (top) strip wins only when strictly wider (taller). The strip is repeated from the
  image's top-left corner, pixel (y, x) taking strip[y mod th, x mod tw], and pasted inside the box only.
  An image with no strip is an error.
- Mixed-* [G ``main``]: the foreground's pixels, where they are (not moved, not rescaled), over the Only-BG-T
  image of another kept image; both first go to one frame: shorter side to 256 (nearest), centre crop 256.
  The background image is drawn uniformly [G ``get_rand_image``] from the same class (Mixed-Same), a random
  class (Mixed-Rand) or the next class (Mixed-Next) [G: the three differ only in "the background class"].
  Files: ``fg_<synset>_<num>_bg_<synset>_<num>.JPEG`` for mixed, ``<synset>_<num>.JPEG`` otherwise.
- Challenge [E ``challenge_eval.py``, ``adv_bgs_eval_model``]: every foreground of ``fg_mask/val`` (with its
  ``original/val`` image) over every image of ``only_bg_t/val`` (all classes, its own background included),
  composite = bg * (1 - m) + m * image; a foreground counts when it is classified right on every background;
  the challenge accuracy is the share that counts (ResNet-50 22.3%, ResNet-50 trained on IN-9L 12.0% [E
  README]; correctly classified foregrounds fooled "up to 88%" of the time [P abstract]). A 1000-class model's
  prediction goes through ``in_to_in9.json``; its 630 classes outside IN-9 map to -1, always wrong.
- BG-Gap = accuracy on Mixed-Same minus accuracy on Mixed-Rand [E README: ResNet-50 86.2 - 78.9 = 7.3].
- Released test set [E README, ``in9_eval.py``, ``challenge_eval.py``]: ``bg_challenge/<variant>/val/<class>/``
  for the eight image variants of ``VARIANTS`` and ``fg_mask`` (``<stem>.npy``, 0/1: the challenge multiplies
  it by 255 before ``ToTensor``; named as the original ``<stem>.JPEG``). Classes ``IN9_CLASSES``; a label is
  the folder's place in sorted order [E ``tools/folder.py``], the order of ``in9_classes.txt``.

Choices made here
- Masks: bool as given; integers whose maximum is at most 1 are 0/1 (the ``.npy`` files); other 8-bit masks
  (saliency) are foreground at >= 128, as in ``localization.foreground``; floats at >= 0.5.
- Boxes are half-open (x0, y0, x1, y1). The authors' PIL box includes its last column (row) and their
  right (bottom) strip starts on it, so their tile carries one column (row) of the box and that margin counts
  one more; here strips start after the box. Without an annotated box, ``mask_box`` gives the mask's tight
  rectangle (GrabCut keeps the mask inside the box, so this is never larger than theirs).
- ``mixed`` takes the background wherever the mask is off. The authors took it wherever the resized Only-FG
  image is exactly black, so black object pixels also got the background.
- Background draws never return the foreground's own image (the authors' draw could). Mixed-Rand draws its
  class uniformly among all classes, the foreground's included, so the background says nothing about the
  label and a background-only reader scores 1/C; Mixed-Next uses class (y + 1) mod C.

Not confirmed: the paper's wording on whether Mixed-Rand may draw the foreground's own class and on Mixed-Next
wrapping the last class to the first (the released script has neither); whether "same class" in the release
means the IN-9 class or, as in the script, the ImageNet synset; the pixel size of the released images (the
challenge batches them, so one size per variant; third-party loaders read 224 x 224).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

IN9_CLASSES = (
    "00_dog",
    "01_bird",
    "02_wheeled vehicle",
    "03_reptile",
    "04_carnivore",
    "05_insect",
    "06_musical instrument",
    "07_primate",
    "08_fish",
)
VARIANTS = ("original", "only_fg", "no_fg", "only_bg_b", "only_bg_t", "mixed_same", "mixed_rand", "mixed_next")
MIXED = ("mixed_same", "mixed_rand", "mixed_next")
TITLES = dict(
    zip(
        VARIANTS,
        ("Original", "Only-FG", "No-FG", "Only-BG-B", "Only-BG-T", "Mixed-Same", "Mixed-Rand", "Mixed-Next"),
        strict=True,
    )
)
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif")  # as the authors' tools/folder.py

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), half-open: columns x0..x1-1, rows y0..y1-1


def binary_mask(mask: np.ndarray) -> np.ndarray:
    """H x W foreground as bool: bool kept; 0/1 integers as they are; other integers >= 128; floats >= 0.5."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H x W, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        return mask >= 1 if mask.max(initial=0) <= 1 else mask >= 128
    if np.issubdtype(mask.dtype, np.floating):
        return mask >= 0.5
    raise ValueError(f"a mask is bool, integer or float, got {mask.dtype}")


def _image_and_mask(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"an image is uint8 H x W x 3, got {image.dtype} {image.shape}")
    fg = binary_mask(mask)
    if fg.shape != image.shape[:2]:
        raise ValueError(f"mask {fg.shape} and image {image.shape[:2]} differ in size")
    return image, fg


def mask_box(mask: np.ndarray) -> Box:
    """The tight half-open rectangle around the foreground; ValueError for an empty mask."""
    fg = binary_mask(mask)
    rows, cols = np.flatnonzero(fg.any(1)), np.flatnonzero(fg.any(0))
    if rows.size == 0:
        raise ValueError("the mask has no foreground pixel: no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _box_mask(shape: tuple[int, ...], box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]):
        raise ValueError(f"box {box} is empty or leaves the {shape[0]} x {shape[1]} image")
    inside = np.zeros(shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    return inside


def only_fg(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Only-FG: the image on the foreground, black elsewhere."""
    image, fg = _image_and_mask(image, mask)
    return np.where(fg[..., None], image, 0).astype(np.uint8)


def no_fg(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """No-FG: the foreground blacked out, the rest of the image kept."""
    image, fg = _image_and_mask(image, mask)
    return np.where(fg[..., None], 0, image).astype(np.uint8)


def only_bg_b(image: np.ndarray, box: Box) -> np.ndarray:
    """Only-BG-B: the whole box blacked out (the authors' annotated box; ``mask_box`` without one)."""
    image, inside = _image_and_mask(image, _box_mask(image.shape, box))
    return np.where(inside[..., None], 0, image).astype(np.uint8)


def tile_strip(height: int, width: int, box: Box) -> tuple[slice, slice]:
    """(rows, cols) of the strip that tiles the box: the largest margin strip, by the rule in the module doc."""
    _box_mask((height, width), box)
    x0, y0, x1, y1 = box
    left, right, top, bottom = x0, width - x1, y0, height - y1
    side_area, band_area = max(left, right) * height, max(top, bottom) * width
    if max(side_area, band_area) == 0:
        raise ValueError(f"box {box} covers the whole {height} x {width} image: no background to tile")
    if side_area > band_area:
        return slice(0, height), slice(0, x0) if left > right else slice(x1, width)
    return slice(0, y0) if top > bottom else slice(y1, height), slice(0, width)


def only_bg_t(image: np.ndarray, box: Box) -> np.ndarray:
    """Only-BG-T: the box filled with the image's largest margin strip, tiled from the top-left corner."""
    image, inside = _image_and_mask(image, _box_mask(image.shape, box))
    h, w = inside.shape
    strip = image[tile_strip(h, w, box)]
    tiled = strip[np.arange(h)[:, None] % strip.shape[0], np.arange(w)[None, :] % strip.shape[1]]
    return np.where(inside[..., None], tiled, image).astype(np.uint8)


def mixed(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Mixed-*: the foreground's pixels where its mask is on, at their own place; ``background``'s elsewhere."""
    image, fg = _image_and_mask(image, mask)
    if background.shape != image.shape or background.dtype != np.uint8:
        raise ValueError(f"background {background.dtype} {background.shape} is not a uint8 {image.shape} image")
    return np.where(fg[..., None], image, background).astype(np.uint8)


def authors_frame(array: np.ndarray, size: int = 256) -> np.ndarray:
    """The authors' common frame for mixing: shorter side to ``size`` (nearest), centre crop ``size`` x ``size``.

    Equal to torchvision's ``Resize(size, NEAREST)`` then ``CenterCrop(size)`` on a PIL image: the longer side is
    truncated to int(size * long / short), the crop offset rounded. Masks (bool or integer) stay binary.
    """
    h, w = array.shape[:2]
    nh, nw = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    src = array.astype(np.uint8) if array.dtype == bool else array
    out = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_NEAREST_EXACT)  # PIL's nearest: pixel centres
    top, left = round((nh - size) / 2), round((nw - size) / 2)
    out = out[top : top + size, left : left + size]
    return out.astype(bool) if array.dtype == bool else out


def background_sources(labels: np.ndarray, seed: int, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """For each variant of ``MIXED``, the index of each sample's background source, never the sample itself.

    Mixed-Same: a uniform other sample of its class. Mixed-Rand: a class uniform over all ``num_classes``
    (its own included), then a uniform sample of it. Mixed-Next: a uniform sample of class (y + 1) mod C.
    ``num_classes`` defaults to max(label) + 1; every class needs two samples. A pure function of its arguments.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("labels must be a non-empty 1-D array of class indices >= 0")
    c = int(y.max()) + 1 if num_classes is None else num_classes
    counts = np.bincount(y, minlength=c)
    if c < 2 or counts.size > c or (counts < 2).any():
        raise ValueError(f"need >= 2 classes in 0..{c - 1}, each with >= 2 samples; counts per class {counts.tolist()}")
    order = np.argsort(y, kind="stable")  # the samples grouped by class
    starts = np.cumsum(counts) - counts
    rank = np.empty_like(y)
    rank[order] = np.arange(y.size) - starts[y[order]]  # each sample's place within its class
    rng = np.random.default_rng(seed)
    targets = {"mixed_same": y, "mixed_rand": rng.integers(0, c, y.size), "mixed_next": (y + 1) % c}
    sources = {}
    for name, t in targets.items():
        own = t == y
        r = rng.integers(0, counts[t] - own)
        sources[name] = order[starts[t] + r + (own & (r >= rank))]  # skip the sample's own place
    return sources


def in9_root(root: str) -> str:
    """The ``bg_challenge`` folder of ``root``: ``root`` itself where it holds a variant folder, else its
    ``bg_challenge`` sub-folder; FileNotFoundError where ``root`` is no folder."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no IN-9 folder at {root!r}")
    if any(os.path.isdir(os.path.join(root, v)) for v in (*VARIANTS, "fg_mask")):
        return root
    return os.path.join(root, "bg_challenge")


def read_in9(root: str) -> dict[str, list[tuple[str, int]]]:
    """(path, label) of every file of each variant present in an extracted IN-9 test set, by label then name.

    ``root`` is the ``bg_challenge`` folder or the folder holding it. A variant folder present must hold
    ``val/`` with exactly the folders of ``IN9_CLASSES``, each with images (``fg_mask``: ``.npy`` files);
    anything else raises ValueError naming the folder and what was expected. Other folders are ignored.
    """
    root = in9_root(root)
    present = [v for v in (*VARIANTS, "fg_mask") if os.path.isdir(os.path.join(root, v))]
    if not present:
        raise ValueError(f"{root!r} holds none of the IN-9 folders {(*VARIANTS, 'fg_mask')}")
    out = {}
    for variant in present:
        val = os.path.join(root, variant, "val")
        if not os.path.isdir(val):
            raise ValueError(f"{os.path.join(root, variant)!r} has no val/ folder (expected {variant}/val/<class>/)")
        classes = sorted(d for d in os.listdir(val) if os.path.isdir(os.path.join(val, d)))
        if classes != list(IN9_CLASSES):
            raise ValueError(f"{val!r} must hold the class folders {list(IN9_CLASSES)}; found {classes}")
        extensions = (".npy",) if variant == "fg_mask" else _IMAGE_EXTENSIONS
        out[variant] = []
        for label, name in enumerate(classes):
            folder = os.path.join(val, name)
            files = sorted(f for f in os.listdir(folder) if f.lower().endswith(extensions))
            if not files:
                raise ValueError(f"{folder!r} holds no file ending in {extensions}")
            out[variant] += [(os.path.join(folder, f), label) for f in files]
    return out


@dataclass(frozen=True)
class Challenge:
    """The challenge score of a correctness matrix, and how many backgrounds it stands on."""

    accuracy: float  # share of foregrounds classified right on every background tried
    foregrounds: int
    backgrounds: int  # backgrounds tried for each foreground
    pool: int  # backgrounds the protocol asks for (all of only_bg_t/val); more than tried when sampled

    @property
    def sampled(self) -> bool:
        """True when only some backgrounds were tried: the accuracy is then an upper bound of the full one."""
        return self.backgrounds < self.pool


def challenge_backgrounds(pool: int, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of the backgrounds to try: all of ``pool``, or ``limit`` of them drawn without replacement, sorted."""
    if pool < 1 or (limit is not None and limit < 1):
        raise ValueError(f"pool {pool} and limit {limit} must be >= 1")
    if limit is None or limit >= pool:
        return np.arange(pool)
    return np.sort(np.random.default_rng(seed).choice(pool, size=limit, replace=False))


def challenge_accuracy(correct: np.ndarray, pool: int | None = None) -> Challenge:
    """Share of foregrounds right on every background: ``correct[f, b]`` (bool, F x B) says foreground f on b.

    ``pool`` is the number of backgrounds the columns were drawn from (``challenge_backgrounds``); None: all.
    """
    correct = np.asarray(correct)
    if correct.dtype != bool or correct.ndim != 2 or 0 in correct.shape:
        raise ValueError(f"correct must be a non-empty bool F x B matrix, got {correct.dtype} {correct.shape}")
    f, b = correct.shape
    pool = b if pool is None else pool
    if pool < b:
        raise ValueError(f"{b} backgrounds tried but the pool holds only {pool}")
    return Challenge(float(correct.all(1).mean()), f, b, pool)


def bg_gap(mixed_same: float, mixed_rand: float) -> float:
    """BG-Gap: accuracy on Mixed-Same minus accuracy on Mixed-Rand (same units in, same units out)."""
    return mixed_same - mixed_rand
