"""The paper's Figs. 7-13: where each model's class score is sensitive, over the image, models side by side.

Row r is image r: the image, its true mask when masks are given, then one cell per model with
|d score / d pixel| (max over channels, Gaussian-smoothed by ``smooth`` input pixels, divided
by its 99th percentile so that each map fills the colour scale) as a JET heat map blended over
the image, mapped back to the image's own aspect. With ``mask_out`` the map is thresholded
instead (at that fraction of the percentile) and the image is shown with everything outside
the mask dimmed. Each model cell is labeled with the class whose score was back-propagated
and, with masks, that image's localization score. Figure size: height
``HEADER + rows * (cell_h + gap)``, width ``cols * (cell_w + gap) - gap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.class_gradient import class_gradients, gradient_energy, gradient_map, true_labels
from pretrain.diagnosis.localization import foreground, localization_score
from pretrain.models.frozen import FrozenModel

from .grid import GAP, fit_image, grid, label, letterbox

CELL = (128, 128)  # (height, width) of every cell
DIM = 0.2  # brightness of the masked-out background


@dataclass(frozen=True)
class Explained:
    """A model with the classifier whose class scores are back-propagated, and that classifier's class names."""

    model: FrozenModel
    classifier: nn.Module
    classes: list[str]


def normalized_map(grad_map: torch.Tensor, smooth: float) -> np.ndarray:
    """One H x W map smoothed by ``smooth`` pixels (0: not at all) and scaled to [0, 1] by its 99th percentile."""
    m = grad_map.numpy().astype(np.float32)
    if smooth > 0:
        m = cv2.GaussianBlur(m, (0, 0), smooth)
    top = np.percentile(m, 99)
    return np.clip(m / top, 0, 1) if top > 0 else np.zeros_like(m)


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """``heat`` in [0, 1] (any size) as a JET map blended half and half over ``image`` (H x W x 3 uint8)."""
    heat = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    colored = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 0.5, colored, 0.5, 0)


def masked(image: np.ndarray, heat: np.ndarray, threshold: float) -> np.ndarray:
    """``image`` where ``heat`` >= ``threshold``, dimmed to ``DIM`` elsewhere."""
    keep = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR) >= threshold
    return np.where(keep[..., None], image, (image * DIM).astype(np.uint8))


def model_cells(
    explained: Explained,
    images: list[np.ndarray],
    masks: list[np.ndarray] | None,
    labels: torch.Tensor | None,
    smooth: float,
    mask_out: float | None,
    cell: tuple[int, int],
    device: torch.device,
) -> list[np.ndarray]:
    """One cell per image for one model (see the module docstring)."""
    model = explained.model.to(device)
    pixels = torch.stack([model.pixels(im) for im in images]).to(device)
    grad, target = class_gradients(model, explained.classifier.to(device), pixels, labels)
    grad = grad.cpu()
    scores = None
    if masks is not None:
        scores = localization_score(gradient_energy(grad), torch.stack([foreground(m, model.size) for m in masks]))
    cells = []
    for i, (image, g) in enumerate(zip(images, gradient_map(grad), strict=True)):
        heat = normalized_map(g, smooth)
        picture = masked(image, heat, mask_out) if mask_out is not None else overlay(image, heat)
        text = explained.classes[int(target[i])]
        if scores is not None:
            text += f" {scores[i].item():.2f}"
        cells.append(label(letterbox(fit_image(picture, cell), cell), text))
    return cells


def gradients_figure(
    images: LabeledImages,
    explained: Sequence[Explained],
    target: str,
    mask_root: str | None = None,
    smooth: float = 1.0,
    mask_out: float | None = None,
    device: torch.device | None = None,
    cell: tuple[int, int] = CELL,
    gap: int = GAP,
) -> np.ndarray:
    """The figure (uint8 RGB); ``target`` "true" explains each image's own class, "predicted" the top class."""
    if not explained:
        raise ValueError("the gradients figure needs at least one model")
    device = device or torch.device("cpu")
    if mask_root:
        pairs = [images.with_mask(i, mask_root) for i in range(len(images))]
        pictures, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        pictures, masks = [images.image(i) for i in range(len(images))], None
    columns = [
        model_cells(e, pictures, masks, true_labels(e.classes, images) if target == "true" else None, smooth,
                    mask_out, cell, device)
        for e in explained
    ]  # fmt: skip
    firsts = [[letterbox(fit_image(p, cell), cell)] for p in pictures]
    if masks is not None:
        firsts = [[*f, letterbox(fit_image(m, cell), cell)] for f, m in zip(firsts, masks, strict=True)]
    rows = [[*f, *(col[r] for col in columns)] for r, f in enumerate(firsts)]
    titles = ["image", *(["true mask"] if masks is not None else []), *(e.model.name for e in explained)]
    return grid(rows, titles, gap)
