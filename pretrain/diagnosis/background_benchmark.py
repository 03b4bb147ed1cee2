"""The backgrounds benchmark of a model: how much its features rely on the background (ImageNet-9's protocol).

A linear classifier is fitted on the model's frozen features of the Original training images (the fast
probe: L-BFGS on whole-image features, as the localization score's), then scores the test images in
every variant of :mod:`.backgrounds`: Original, Only-FG, No-FG, Only-BG-B, Only-BG-T, Mixed-Same,
Mixed-Rand, Mixed-Next. BG-Gap is Mixed-Same minus Mixed-Rand; the challenge accuracy is the share of
test foregrounds classified right on every background of the test set's Only-BG-T pool.

The test set is either built here, from labeled images and their foreground masks (:func:`masked_test_set`,
:func:`variant_images`: true masks, or saliency masks whose errors the variants inherit), or read from
the authors' released IN-9 folder (:func:`in9_benchmark`), whose variants were built by them.

The challenge composites every foreground on every background: F x B images. Their features are
computed in batches, each batch composited at once; ``limit`` bounds B by a seeded sample of the pool
(the result says so, and is then an upper bound of the full challenge accuracy).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pretrain.data.labeled import LabeledImages
from pretrain.models.frozen import FrozenModel
from pretrain.utils.image_io import load_rgb

from .backgrounds import (
    IN9_CLASSES,
    MIXED,
    TITLES,
    VARIANTS,
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
)
from .class_gradient import fit_classifier

BATCH = 256


class ImageFiles(Sequence):
    """Images read (RGB uint8) as they are indexed: a released test set is not held in memory at once."""

    def __init__(self, paths: Sequence[str], read: Callable[[str], np.ndarray] | None = None):
        self.paths, self.read = list(paths), read or (lambda path: np.asarray(load_rgb(path)))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):  # an int, or a slice (a list)
        if isinstance(index, slice):
            return [self.read(p) for p in self.paths[index]]
        return self.read(self.paths[index])


@dataclass(frozen=True)
class TestSet:
    """Test images in one frame, their foregrounds (bool) and labels; ``masks`` says where the masks came from."""

    images: Sequence[np.ndarray]
    foregrounds: Sequence[np.ndarray]
    labels: np.ndarray
    classes: list[str]
    masks: str  # "true", or the saliency folder the variants inherit errors from
    dropped: int  # test images left out: no foreground, or a foreground box with no margin to tile from


def masked_test_set(images: LabeledImages, mask_root: str, masks: str = "true", frame: int = 0) -> TestSet:
    """The labeled ``images`` with their masks under ``mask_root``, each brought to the authors' square
    ``frame`` (:func:`authors_frame`; 0: the images as they are, which must then share one size).

    An image whose mask has no foreground, or whose foreground box leaves no margin strip to tile, is left out
    (the authors keep only images with a foreground and room around it) and counted in ``dropped``.
    """
    kept, dropped = [], 0
    for i in range(len(images)):
        image, mask = images.with_mask(i, mask_root)
        if frame:
            image, mask = authors_frame(image, frame), authors_frame(mask, frame)
        fg = binary_mask(mask)
        if not fg.any() or mask_box(fg) == (0, 0, fg.shape[1], fg.shape[0]):
            dropped += 1
            continue
        kept.append((image, fg, images.labels[i]))
    if len({im.shape for im, _, _ in kept}) > 1:
        raise ValueError(f"the test images under {images.root!r} differ in size: give a frame to bring them to one")
    return TestSet(
        [im for im, _, _ in kept],
        [fg for _, fg, _ in kept],
        np.array([y for _, _, y in kept]),
        list(images.classes),
        masks,
        dropped,
    )


def variant_images(test: TestSet, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Every variant of every test image, built as the authors build them (:mod:`.backgrounds`); the mixed
    variants' backgrounds are other test images' Only-BG-T, drawn by :func:`background_sources` from ``seed``."""
    boxes = [mask_box(fg) for fg in test.foregrounds]
    tiled = [only_bg_t(im, box) for im, box in zip(test.images, boxes, strict=True)]
    pairs = list(zip(test.images, test.foregrounds, strict=True))
    out = {
        "original": test.images,
        "only_fg": [only_fg(im, fg) for im, fg in pairs],
        "no_fg": [no_fg(im, fg) for im, fg in pairs],
        "only_bg_b": [only_bg_b(im, box) for im, box in zip(test.images, boxes, strict=True)],
        "only_bg_t": tiled,
    }
    sources = background_sources(test.labels, seed, len(test.classes))
    for name in MIXED:
        out[name] = [mixed(im, fg, tiled[s]) for (im, fg), s in zip(pairs, sources[name].tolist(), strict=True)]
    return out


@torch.no_grad()
def predict(
    model: FrozenModel, classifier: nn.Module, images: Sequence[np.ndarray], device: torch.device
) -> np.ndarray:
    """The classifier's class for each image, read whole by ``model`` (:meth:`FrozenModel.prepare`), in batches."""
    model, classifier = model.to(device).eval(), classifier.to(device)
    out = []
    for start in range(0, len(images), BATCH):
        x = torch.stack([model.prepare(im) for im in images[start : start + BATCH]]).to(device)
        out.append(classifier(model(x).float()).argmax(1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def _composite_batches(
    test: TestSet, backgrounds: Sequence[np.ndarray], columns: np.ndarray, per: int
) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """Runs of ``per`` test foregrounds, each with its composites over ``backgrounds[columns]`` (foreground-major),
    made as they are asked for."""
    shape = test.images[0].shape
    pool = np.stack([_fit(backgrounds[c], shape) for c in columns])  # (B, H, W, 3)
    for start in range(0, len(test.images), per):
        rows = slice(start, min(start + per, len(test.images)))
        fg = np.stack(test.foregrounds[rows])[:, None, :, :, None]  # (f, 1, H, W, 1)
        composites = np.where(fg, np.stack(test.images[rows])[:, None], pool[None])  # (f, B, H, W, 3)
        yield rows, list(composites.reshape(-1, *shape))


def _fit(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``image`` at ``shape`` (a released background of another size is resized to the foreground's)."""
    return image if image.shape == shape else cv2.resize(image, shape[1::-1], interpolation=cv2.INTER_AREA)


def challenge(
    model: FrozenModel,
    classifier: nn.Module,
    test: TestSet,
    backgrounds: Sequence[np.ndarray],
    device: torch.device,
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """The challenge accuracy (%): each test foreground on each of ``backgrounds`` (the Only-BG-T pool, its own
    included), or on ``limit`` of them drawn with ``seed``; a foreground right on all of them counts."""
    columns = challenge_backgrounds(len(backgrounds), limit, seed)
    correct = np.zeros((len(test.images), len(columns)), bool)
    per = max(1, BATCH // len(columns))  # foregrounds a batch: one batch of composites in memory at a time
    batches = _composite_batches(test, backgrounds, columns, per)
    for rows, composites in tqdm(batches, total=-(-len(test.images) // per), desc="challenge", leave=False):
        predicted = predict(model, classifier, composites, device).reshape(-1, len(columns))
        correct[rows] = predicted == test.labels[rows, None]
    result = challenge_accuracy(correct, pool=len(backgrounds))
    return {**asdict(result), "accuracy": 100 * result.accuracy, "sampled": result.sampled, "seed": seed}


@dataclass(frozen=True)
class Benchmark:
    """What every model is scored on, made once: each variant's images and labels, the challenge's foregrounds
    and its background pool, and what the report says of the test set."""

    variants: dict[str, tuple[Sequence[np.ndarray], np.ndarray]]
    foregrounds: TestSet
    backgrounds: Sequence[np.ndarray]
    about: dict


def built_benchmark(test: TestSet, seed: int = 0) -> Benchmark:
    """The variants of ``test`` built here (:func:`variant_images`), the challenge on their Only-BG-T pool."""
    variants = variant_images(test, seed)
    about = {"test_images": len(test.images), "dropped": test.dropped, "masks": test.masks}
    return Benchmark({v: (x, test.labels) for v, x in variants.items()}, test, variants["only_bg_t"], about)


def embedded_benchmark(root: str, seed: int = 0) -> tuple[LabeledImages, Benchmark]:
    """The embedded set at ``root`` (:func:`pretrain.data.embedded.ensure_embedded`): its training images, and the
    benchmark built from its held-out images and their true masks."""
    train = LabeledImages.from_folder(os.path.join(root, "train"))
    test_images = LabeledImages.from_folder(os.path.join(root, "val"), classes=train.classes)
    test = masked_test_set(test_images, os.path.join(root, "masks", "val"), "true")
    return train, built_benchmark(test, seed)


def in9_benchmark(root: str) -> Benchmark:
    """The authors' released IN-9 test set at ``root`` (:func:`read_in9`): their variants as they made them, the
    challenge over ``original`` with ``fg_mask`` on ``only_bg_t``; images are read as they are scored."""
    files = read_in9(root)
    missing = [v for v in ("original", "fg_mask", "only_bg_t", *MIXED) if v not in files]
    if missing:
        raise ValueError(f"the IN-9 folder {root!r} lacks {missing}")
    variants = {
        v: (ImageFiles([p for p, _ in f]), np.array([y for _, y in f])) for v, f in files.items() if v != "fg_mask"
    }
    by_stem = {os.path.splitext(os.path.basename(p))[0]: (p, y) for p, y in files["original"]}
    masks = [(m, *by_stem[os.path.splitext(os.path.basename(m))[0]]) for m, _ in files["fg_mask"]]
    test = TestSet(
        ImageFiles([p for _, p, _ in masks]),
        ImageFiles([m for m, _, _ in masks], read=lambda path: binary_mask(np.load(path))),
        np.array([y for _, _, y in masks]),
        list(IN9_CLASSES),
        "the authors' fg_mask",
        0,
    )
    about = {"test_images": len(variants["original"][1]), "masks": test.masks}
    return Benchmark(variants, test, variants["only_bg_t"][0], about)


def evaluate(
    models: Sequence[FrozenModel],
    train: LabeledImages,
    benchmark: Benchmark,
    device: torch.device,
    seed: int = 0,
    challenge_limit: int | None = None,
    fit: Callable[[FrozenModel], nn.Module] | None = None,
) -> list[dict]:
    """For each model: accuracy (%) on every variant, BG-Gap (points) and the challenge accuracy, its classifier
    fitted on ``train``'s Original images, whose classes must be the test set's.

    ``fit`` makes a model's classifier over its features (default: the fast probe, L-BFGS on the features of
    ``train``'s whole images, :func:`.class_gradient.fit_classifier`; ``tools/backgrounds.py --probe protocol``
    passes the paper's SGD probe).
    """
    classes = benchmark.foregrounds.classes
    if list(train.classes) != list(classes):
        raise ValueError(f"the training folder {train.root!r} must hold the test set's class folders {classes}")
    fit = fit or (lambda model: fit_classifier(model, train, device))
    results = []
    for model in models:
        classifier = fit(model)
        scores = variant_scores(model, classifier, benchmark.variants, device)
        tried = challenge(
            model, classifier, benchmark.foregrounds, benchmark.backgrounds, device, challenge_limit, seed
        )
        results.append({**scores, "challenge": tried, **benchmark.about})
    return results


def variant_scores(
    model: FrozenModel,
    classifier: nn.Module,
    variants: dict[str, tuple[Sequence[np.ndarray], np.ndarray]],
    device: torch.device,
) -> dict:
    """{"model", "accuracy": {variant: %}, "bg_gap": Mixed-Same - Mixed-Rand in points} of (images, labels)."""
    accuracy = {
        name: 100 * float((predict(model, classifier, images, device) == labels).mean())
        for name, (images, labels) in tqdm(variants.items(), desc=f"{model.name} variants", leave=False)
    }
    return {"model": model.name, "accuracy": accuracy, "bg_gap": bg_gap(accuracy["mixed_same"], accuracy["mixed_rand"])}


def format_table(results: Sequence[dict]) -> str:
    """One row per model: accuracy (%) on every variant, BG-Gap (points), the challenge accuracy (%)."""
    head = ("model", *(TITLES[v] for v in VARIANTS), "BG-Gap", "challenge")
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for r in results:
        cells = [f"{r['accuracy'][v]:.1f}" for v in VARIANTS] + [
            f"{r['bg_gap']:+.1f}",
            f"{r['challenge']['accuracy']:.1f}",
        ]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    c = results[0]["challenge"] if results else None
    if c and c["sampled"]:
        lines.append(
            f"challenge: {c['foregrounds']} foregrounds, each on {c['backgrounds']} of the {c['pool']} backgrounds "
            f"(drawn with seed {c['seed']}): an upper bound of the accuracy on all of them"
        )
    elif c:
        lines.append(f"challenge: {c['foregrounds']} foregrounds, each on all {c['pool']} backgrounds")
    return "\n".join(lines)
