"""The embedded default: objects on backgrounds shared across classes, with true masks.

The paper's premise (Fig. 1) in a set that a CPU learns in minutes. Each class is an object
kind, a shape in a class colour; an instance varies it only a little (position, size,
rotation, shade), so what makes an instance recognizable is mostly what makes its class, as in
photos. Every image sits on a background drawn from one pool shared by all classes: the
background is strong, instance-specific evidence that carries no class information, which is
exactly the shortcut copy-paste removes. True foreground masks are saved beside the images.
A variant (``class_backgrounds``) draws most of a class's backgrounds from its own part of the pool,
so that backgrounds carry class information as ImageNet's do: the backgrounds benchmark's set.

The set is a pure function of its parameters. It is written once, atomically, into
``<cache_dir>/<fingerprint>/`` with the ImageNet layout::

    train/<class>/<id>.png   val/<class>/<id>.png   masks/{train,val}/<class>/<id>.png
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

import cv2
import numpy as np

_SUPERSAMPLE = 4  # shapes are rasterized at 4x and area-averaged: anti-aliased edges


@dataclass(frozen=True)
class EmbeddedSpec:
    """Parameters of the set (config keys DATA.EMBEDDED.*)."""

    num_classes: int = 10
    train_per_class: int = 200
    val_per_class: int = 50
    image_size: int = 64
    num_backgrounds: int = 30
    object_size: tuple[float, float] = (0.2, 0.3)  # radius range, as a fraction of the side
    seed: int = 0
    # The share of each class's images whose background comes from the class's own part of the pool
    # (backgrounds k, k + C, k + 2C... of class k, C classes), the rest from the whole pool: backgrounds that
    # carry class information, as ImageNet's do. 0: every class shares the whole pool (the default set).
    class_backgrounds: float = 0.0

    def fingerprint(self) -> str:
        # version 2: mask folders carry a provenance record; a cache of an older dilo, whose mask folders have
        # none (and are refused by the saliency tool), is not reused. class_backgrounds 0 is left out: the
        # default set keeps the fingerprint it had before the key existed.
        fields = {k: v for k, v in asdict(self).items() if k != "class_backgrounds" or v}
        blob = json.dumps({**fields, "version": 2}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _regular(n: int, start: float = 0.0, radius: float | np.ndarray = 1.0, x_scale: float = 1.0) -> np.ndarray:
    """``n`` points evenly spaced in angle from ``start``; an alternating ``radius`` makes a star."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False) + start
    return np.stack([x_scale * radius * np.cos(a), radius * np.sin(a)], 1)


def _circle(radius: float = 1.0, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    return _regular(64, radius=radius) + np.asarray(center)


_A = 0.33  # half-width of the cross's arms
_OUTLINES = {
    "circle": lambda: [_circle()],
    "square": lambda: [_regular(4, np.pi / 4)],
    "triangle": lambda: [_regular(3, -np.pi / 2)],
    "star": lambda: [_regular(10, -np.pi / 2, np.where(np.arange(10) % 2 == 0, 1.0, 0.42))],
    "cross": lambda: [
        np.array(
            [
                (_A, 1),
                (_A, _A),
                (1, _A),
                (1, -_A),
                (_A, -_A),
                (_A, -1),
                (-_A, -1),
                (-_A, -_A),
                (-1, -_A),
                (-1, _A),
                (-_A, _A),
                (-_A, 1),
            ],
            dtype=np.float64,
        )
    ],
    "ring": lambda: [_circle(), _circle(0.55)],
    "diamond": lambda: [_regular(4, x_scale=0.6)],
    "hexagon": lambda: [_regular(6)],
    "crescent": lambda: [_circle(), _circle(0.85, (0.45, -0.1))],
    "arrow": lambda: [
        np.array([(0, -1), (0.8, -0.1), (0.3, -0.1), (0.3, 1), (-0.3, 1), (-0.3, -0.1), (-0.8, -0.1)], dtype=np.float64)
    ],
}


SHAPES = tuple(_OUTLINES)  # class k is SHAPES[k]


def _polygon(shape: str) -> list[np.ndarray]:
    """Outline(s) of ``shape`` on the unit disk, as (n, 2) arrays; a ring/crescent adds a hole."""
    if shape not in _OUTLINES:
        raise ValueError(f"unknown shape {shape!r}")
    return _OUTLINES[shape]()


def _object_alpha(shape: str, size: int, center: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of the rotated, scaled shape on a size x size canvas."""
    s = _SUPERSAMPLE
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    outer, *holes = [((p @ rot.T) * radius + center) * s for p in _polygon(shape)]
    canvas = np.zeros((size * s, size * s), np.uint8)
    cv2.fillPoly(canvas, [np.round(outer).astype(np.int32)], 255, lineType=cv2.LINE_8)
    for hole in holes:
        cv2.fillPoly(canvas, [np.round(hole).astype(np.int32)], 0, lineType=cv2.LINE_8)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A busy, colourful (size x size x 3) float image: two colour gratings over a smooth field."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.empty((size, size, 3), np.float32)
    field = rng.uniform(0.15, 0.85, (3, 3, 3)).astype(np.float32)
    img[:] = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(2):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 8), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        img += 0.25 * wave[..., None] * rng.uniform(-1, 1, 3).astype(np.float32)
    return np.clip(img, 0, 1)


def _class_colors(num_classes: int) -> np.ndarray:
    """Evenly spaced, saturated hues: the class colour of each object kind."""
    return np.array([colorsys.hsv_to_rgb(k / num_classes, 0.85, 0.95) for k in range(num_classes)], np.float32)


def render(
    spec: EmbeddedSpec, split: str, label: int, i: int, backgrounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image ``i`` of class ``label`` in ``split``: (uint8 HxWx3 image, uint8 HxW 0/255 mask)."""
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1, label, i])
    size = spec.image_size
    radius = rng.uniform(*spec.object_size) * size
    center = rng.uniform(radius, size - radius, 2)
    alpha = _object_alpha(SHAPES[label % len(SHAPES)], size, tuple(center), radius, rng.uniform(0, 2 * np.pi))
    # The object: its class colour, slightly re-shaded, lit by a gentle linear gradient.
    color = _class_colors(spec.num_classes)[label] * rng.uniform(0.85, 1.0)
    yy, xx = (np.mgrid[0:size, 0:size] - center[::-1, None, None]) / radius
    gx, gy = rng.normal(0, 0.15, 2)
    obj = np.clip(color * (1 + gx * xx + gy * yy)[..., None], 0, 1)
    bg = backgrounds[_background_index(spec, rng, label, len(backgrounds))]
    off = rng.integers(0, bg.shape[0] - size + 1, 2)
    bg = bg[off[0] : off[0] + size, off[1] : off[1] + size]
    image = alpha[..., None] * obj + (1 - alpha[..., None]) * bg
    return (image * 255 + 0.5).astype(np.uint8), np.where(alpha >= 0.5, 255, 0).astype(np.uint8)


def _background_index(spec: EmbeddedSpec, rng: np.random.Generator, label: int, pool: int) -> int:
    """The pool index of an image's background (see ``EmbeddedSpec.class_backgrounds``); the default set draws
    once from the whole pool, as it always has."""
    if spec.class_backgrounds and rng.uniform() < spec.class_backgrounds:
        own = range(label, pool, spec.num_classes)
        return own[rng.integers(len(own))]
    return int(rng.integers(pool))


def class_names(num_classes: int) -> list[str]:
    """``<index>_<shape>``: sorts in label order, and says what each class is."""
    return [f"{k:02d}_{SHAPES[k % len(SHAPES)]}" for k in range(num_classes)]


def background_pool(spec: EmbeddedSpec) -> np.ndarray:
    """The set's ``num_backgrounds`` backgrounds, shared by all classes: (n, s, s, 3) floats in [0, 1], s 1.5x
    the image's side (an image shows a window of one)."""
    rng = np.random.default_rng([spec.seed, 2])
    return np.stack([_background(rng, spec.image_size * 3 // 2) for _ in range(spec.num_backgrounds)])


def _write(root: str, spec: EmbeddedSpec) -> None:
    backgrounds = background_pool(spec)
    names = class_names(spec.num_classes)
    for split, count in (("train", spec.train_per_class), ("val", spec.val_per_class)):
        for label, name in enumerate(names):
            for sub in (split, f"masks/{split}"):
                os.makedirs(os.path.join(root, sub, name), exist_ok=True)
            for i in range(count):
                image, mask = render(spec, split, label, i, backgrounds)
                cv2.imwrite(os.path.join(root, split, name, f"{i:05d}.png"), image[..., ::-1])
                cv2.imwrite(os.path.join(root, "masks", split, name, f"{i:05d}.png"), mask)
    with open(os.path.join(root, "spec.json"), "w") as f:
        json.dump(asdict(spec), f, indent=1)


def ensure_embedded(spec: EmbeddedSpec, cache_dir: str) -> str:
    """The set's folder, generated first if absent (atomically: a half-written set never shows)."""
    if spec.num_classes > len(SHAPES):
        raise ValueError(f"DATA.EMBEDDED.NUM_CLASSES must be at most {len(SHAPES)}, got {spec.num_classes}")
    if spec.class_backgrounds and spec.num_backgrounds < spec.num_classes:
        raise ValueError(
            f"DATA.EMBEDDED.CLASS_BACKGROUNDS needs a background per class at least: DATA.EMBEDDED.NUM_BACKGROUNDS "
            f"is {spec.num_backgrounds}, DATA.EMBEDDED.NUM_CLASSES {spec.num_classes}"
        )
    if not 0 < spec.object_size[0] <= spec.object_size[1] <= 0.5:
        raise ValueError(f"DATA.EMBEDDED.OBJECT_SIZE must be 0 < min <= max <= 0.5, got {spec.object_size}")
    root = os.path.join(os.path.expanduser(cache_dir), spec.fingerprint())
    if os.path.isfile(os.path.join(root, "spec.json")):
        return root
    os.makedirs(os.path.dirname(root), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(root))
    try:
        _write(tmp, spec)
        os.rename(tmp, root)
    except OSError:
        if not os.path.isfile(os.path.join(root, "spec.json")):  # not a concurrent writer's win
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
