"""Seconds per image of each saliency method, and what its working resolution costs in accuracy against
ground-truth masks: the numbers behind the choice of method and ``max_side`` for the mask tool."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

import numpy as np

from pretrain.saliency import build_saliency
from pretrain.saliency.metrics import SaliencyEvaluator, read_mask

SCORES = ("max_fbeta", "mean_fbeta", "adaptive_fbeta", "mae")
FULL_SIZE = 1_000_000  # a max_side no image reaches


def measure(
    images: dict[str, np.ndarray], gts: dict[str, str], methods: Sequence[str], max_sides: Sequence[int], weights=None
) -> Iterator[dict]:
    """One row per (method, working resolution): seconds per image over ``images`` (``{relative path: RGB}``)
    and, where ``gts`` (from :func:`find_masks`) has the image's mask, the benchmark scores. A max side of 0
    is the image's size; a learned method (``weights``) runs at its own resolution only."""
    for method in methods:
        for side in [0] if weights else max_sides:
            fn = build_saliency(method, **({"weights": weights} if weights else {"max_side": side or FULL_SIZE}))
            tic = time.perf_counter()
            maps = {name: fn(image) for name, image in images.items()}
            seconds = (time.perf_counter() - tic) / len(images)
            evaluator = SaliencyEvaluator()
            for name, sal in maps.items():
                key = os.path.splitext(name)[0]
                if key in gts:
                    evaluator.update(sal, read_mask(gts[key]))
            row = {"method": method, "max_side": side or "full", "images": len(images), "s_per_image_core": seconds}
            if evaluator.num_images:
                result = evaluator.result()
                row |= {k: round(float(result[k]), 4) for k in SCORES}
            yield row


def format_table(rows: list[dict]) -> str:
    """The rows side by side; ``-`` where no ground truth was given."""
    lines = [f"{'method':<8}{'max side':>9}{'s/img/core':>12}{'maxF':>8}{'meanF':>8}{'adaptF':>8}{'MAE':>8}"]
    for r in rows:
        scores = "".join(f"{r[k]:>8.3f}" if k in r else f"{'-':>8}" for k in SCORES)
        lines.append(f"{r['method']:<8}{r['max_side']!s:>9}{r['s_per_image_core']:>12.3f}{scores}")
    return "\n".join(lines)
