"""The localization score: the share of a class score's gradient energy that falls on the object.

Definition. For image x with true foreground mask M (binarized at the model's input size) and
class score s (a linear classifier's logit on frozen features; see ``class_gradient.py``)::

    score = sum_{p in M} |ds/dx_p|^2 / sum_p |ds/dx_p|^2,   |.|^2 summed over the colour channels

Why the squared magnitude: it is the one choice that makes the number a property of the
gradient vector rather than of its pixel grid. The largest change of s that a unit-norm edit
confined to M can make is |grad restricted to M|; the score is the squared ratio of that to the
largest change an edit anywhere can make. It is additive over pixels and channels, so it never
depends on how the image is cut up, and it is 1 when all sensitivity is on the object, 0 when
all of it is on the background.

Chance level: the mask's area share |M| / |image|, the score of a gradient spread evenly. The
lift (score / chance) says how many times more than uniform the model concentrates on the
object; a background-reading model sits near or below 1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from fvcore.common.config import CfgNode
from tqdm import tqdm

from pretrain.data import LabeledImages
from pretrain.data.build import embedded_spec
from pretrain.data.embedded import ensure_embedded
from pretrain.models.frozen import FrozenModel, resize

from .class_gradient import class_gradients, fit_classifier, gradient_energy, true_labels


def localization_score(energy: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Share of ``energy`` (N x H x W, >= 0) inside ``foreground`` (N x H x W bool), per image; NaN without energy."""
    if energy.shape != foreground.shape:
        raise ValueError(f"energy {tuple(energy.shape)} and mask {tuple(foreground.shape)} differ in shape")
    total = energy.sum((-2, -1))
    inside = (energy * foreground).sum((-2, -1))
    return torch.where(total > 0, inside / total.clamp_min(torch.finfo(energy.dtype).tiny), torch.nan)


def chance_level(foreground: torch.Tensor) -> torch.Tensor:
    """The score of uniformly spread energy: the mask's area share, per image."""
    return foreground.float().mean((-2, -1))


def foreground(mask: np.ndarray, size: int) -> torch.Tensor:
    """An 8-bit mask resized to the model's ``size`` x ``size`` input and binarized at half coverage."""
    return torch.from_numpy(resize(mask, size) >= 128)


def _batches(n: int, size: int) -> Iterator[range]:
    return (range(i, min(i + size, n)) for i in range(0, n, size))


def score_images(
    model: FrozenModel,
    classifier: torch.nn.Module,
    classes: list[str],
    images: LabeledImages,
    mask_root: str,
    target: str,
    device: torch.device,
    batch_size: int = 32,
) -> dict:
    """Scores of every image with a non-empty mask, their means, chance and lift (see the module docstring).

    ``target`` "true" back-propagates the image's own class (its class folder, one of the
    classifier's ``classes``), "predicted" the classifier's top class.
    """
    labels = true_labels(classes, images) if target == "true" else None
    classifier = classifier.to(device)
    model = model.to(device)
    scores, chances, names = [], [], []
    empty = 0
    for batch in tqdm(list(_batches(len(images), batch_size)), desc=f"{model.name} gradients", leave=False):
        pairs = [images.with_mask(i, mask_root) for i in batch]
        fg = torch.stack([foreground(m, model.size) for _, m in pairs])
        keep = fg.flatten(1).any(1)
        empty += int((~keep).sum())
        if not keep.any():
            continue
        pixels = torch.stack([model.pixels(im) for im, _ in pairs])[keep].to(device)
        grad, _ = class_gradients(model, classifier, pixels, None if labels is None else labels[list(batch)][keep])
        energy = gradient_energy(grad).cpu()
        scores.append(localization_score(energy, fg[keep]))
        chances.append(chance_level(fg[keep]))
        names += [images.paths[i] for i, k in zip(batch, keep.tolist(), strict=True) if k]
    if not scores:
        raise ValueError(f"no mask under {mask_root!r} has any foreground at {model.size} px: nothing to score")
    return summarize(torch.cat(scores), torch.cat(chances), names, target, empty, model.size)


def summarize(
    scores: torch.Tensor, chances: torch.Tensor, names: list[str], target: str, empty: int, size: int
) -> dict:
    """Means over images with gradient energy; NaN scores (an all-zero gradient) are counted, not averaged."""
    valid = ~scores.isnan()
    score, chance = scores[valid].mean().item(), chances[valid].mean().item()
    return {
        "images": int(valid.sum()),
        "target": target,
        "size": size,
        "score": score,
        "chance": chance,
        "lift": score / chance,
        "above_chance": (scores[valid] > chances[valid]).float().mean().item(),
        "empty_masks": empty,
        "zero_gradients": int((~valid).sum()),
        "per_image": {  # image: [score (None without gradient), chance]
            n: [None if math.isnan(s) else round(s, 5), round(c, 5)]
            for n, s, c in zip(names, scores.tolist(), chances.tolist(), strict=True)
        },
    }


def format_table(results: dict[str, dict[str, dict]]) -> str:
    """One line per (image set, model): images, target class, score, chance, lift, share above chance."""
    sw = max(len("image set"), *map(len, results)) + 2
    mw = max(len("model"), *(len(m) for per_model in results.values() for m in per_model)) + 2
    lines = [f"{'image set':<{sw}}{'model':<{mw}}{'images':>6}  {'target':<10}{'score':>7}{'chance':>8}{'lift':>7}"
             f"{'> chance':>10}"]  # fmt: skip
    for set_name, per_model in results.items():
        for model_name, r in per_model.items():
            lines.append(
                f"{set_name:<{sw}}{model_name:<{mw}}{r['images']:>6}  {r['target']:<10}{r['score']:>7.3f}"
                f"{r['chance']:>8.3f}{r['lift']:>7.2f}{100 * r['above_chance']:>9.1f}%"
            )
    return "\n".join(lines)


def paired_differences(per_model: dict[str, dict], boots: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Each model's per-image score minus the first model's, on the images both scored: mean and bootstrap CI95.

    The same images under two models: pairing removes the image-to-image spread, so a small
    but consistent shift is visible; the interval resamples images (percentile bootstrap).
    """
    (base_name, base), *others = per_model.items()
    rng = np.random.default_rng(seed)
    out = {}
    for name, r in others:
        pairs = [(r["per_image"][k][0], v[0]) for k, v in base["per_image"].items() if k in r["per_image"]]
        d = np.array([a - b for a, b in pairs if a is not None and b is not None])
        means = d[rng.integers(0, len(d), (boots, len(d)))].mean(1)
        out[name] = {
            "versus": base_name,
            "images": len(d),
            "mean": float(d.mean()),
            "ci95": [float(x) for x in np.percentile(means, [2.5, 97.5])],
            "higher": float((d > 0).mean()),
        }
    return out


def format_differences(differences: dict[str, dict[str, dict]]) -> str:
    """One line per (image set, model): the paired score difference to the set's first model."""
    lines = []
    for set_name, per_model in differences.items():
        for name, d in per_model.items():
            lines.append(
                f"{set_name}: {name} - {d['versus']} = {d['mean']:+.3f} (95% CI {d['ci95'][0]:+.3f} to "
                f"{d['ci95'][1]:+.3f}; higher on {100 * d['higher']:.0f}% of {d['images']} images)"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class ScoreSet:
    """Images with true masks to score on, and the labeled folder each model's classifier is fitted on."""

    name: str
    train: LabeledImages
    images: LabeledImages
    mask_root: str
    target: str


def embedded_score_set(cfg: CfgNode, limit: int = 0) -> ScoreSet:
    """The embedded set of ``cfg`` (DATA.EMBEDDED.*): classifier on train, true classes and masks of val."""
    root = ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
    train = LabeledImages.from_folder(os.path.join(root, "train"))
    val = LabeledImages.from_folder(os.path.join(root, "val"), classes=train.classes)
    if limit > 0:  # an even share of every class, not the first class only
        val = val.subset(list(range(0, len(val), max(1, len(val) // limit)))[:limit])
    return ScoreSet("embedded val", train, val, os.path.join(root, "masks", "val"), "true")


def score_models(models: Sequence[FrozenModel], sets: Sequence[ScoreSet], device: torch.device) -> dict:
    """``{set name: {model name: score_images result}}``: every model on every set, each with its own classifier."""
    results: dict[str, dict] = {}
    for s in sets:
        results[s.name] = {}
        for model in models:
            classifier = fit_classifier(model, s.train, device)
            results[s.name][model.name] = {
                "train": s.train.root,
                **score_images(model, classifier, s.train.classes, s.images, s.mask_root, s.target, device),
            }
    return results
