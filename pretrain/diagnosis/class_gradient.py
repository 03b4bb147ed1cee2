"""Class-score gradients in pixel space (the paper's Figs. 7-13, after Simonyan et al.'s saliency maps).

A linear classifier is fitted on the frozen model's penultimate features of a labeled folder
(``pretrain.engine.linear.fit_linear_probe``); the score (logit) of one class per image is then
back-propagated through the classifier, the frozen backbone (in eval mode) and the input
normalization to the pixels. Where the gradient is large, changing the pixels changes the class score: that is
where the model looks when it decides the class.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from pretrain.data import LabeledImages
from pretrain.engine.features import whole_image_features
from pretrain.engine.linear import LinearProbe, fit_linear_probe
from pretrain.models.frozen import FrozenModel
from pretrain.utils.torch_file import load_torch_file, save_atomic

TARGETS = ("true", "predicted")


def fit_classifier(model: FrozenModel, images: LabeledImages, device: torch.device) -> LinearProbe:
    """A linear classifier on ``model``'s penultimate features of the labeled ``images``."""
    if not images.labeled or len(images.classes) < 2:
        raise ValueError(f"the classifier needs a folder of class sub-folders (at least 2), got {images.root!r}")
    data = whole_image_features(model, images, device, desc=f"{model.name} features")
    return fit_linear_probe(data["features"], data["labels"], len(images.classes)).cpu()


def save_classifier(probe: LinearProbe, classes: list[str], path: str) -> None:
    save_atomic({"state_dict": probe.state_dict(), "classes": classes}, path)


def load_classifier(path: str, model: FrozenModel) -> tuple[LinearProbe, list[str]]:
    """A classifier written by :func:`save_classifier`; it must fit ``model``'s feature width."""
    obj = load_torch_file(path, "classifier")
    try:
        state, classes = obj["state_dict"], obj["classes"]
    except (KeyError, TypeError) as e:
        raise ValueError(f"cannot read classifier {path!r}: no {e}") from e
    probe = LinearProbe(state["mean"], state["std"], len(classes))
    if state["mean"].numel() != model.backbone.out_channels:
        raise ValueError(
            f"classifier {path!r} reads {state['mean'].numel()} features, model {model.name!r} gives "
            f"{model.backbone.out_channels}"
        )
    probe.load_state_dict(state)
    return probe.eval(), classes


def classifier_for(
    model: FrozenModel, train: LabeledImages | None, cache_dir: str, device: torch.device
) -> tuple[LinearProbe, list[str]]:
    """``cache_dir/<model name>.pth`` if it exists, else fitted on ``train`` (and saved there when given)."""
    path = os.path.join(cache_dir, f"{model.name}.pth") if cache_dir else ""
    if path and os.path.isfile(path):
        return load_classifier(path, model)
    if train is None:
        raise ValueError(f"no classifier for model {model.name!r}: give a labeled folder to fit one on")
    probe = fit_classifier(model, train, device)
    if path:
        save_classifier(probe, train.classes, path)
    return probe, train.classes


def true_labels(classes: list[str], images: LabeledImages) -> torch.Tensor:
    """The classifier's index of every image's class folder; a flat folder or an unknown class is an error."""
    if not images.labeled:
        raise ValueError(f"target 'true' needs class sub-folders; {images.root!r} is flat: use 'predicted'")
    unknown = sorted(set(images.classes) - set(classes))
    if unknown:
        raise ValueError(f"{images.root!r} has classes {unknown} that the classifier does not know ({classes})")
    return torch.tensor([classes.index(images.classes[label]) for label in images.labels.tolist()])


def class_gradients(
    model: FrozenModel, classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(d score / d pixels as N x 3 x H x W, the class whose score it is, N).

    The score is the classifier's logit of ``labels`` (the true classes) or, without them, of
    the predicted class; ``pixels`` are in [0, 1] (``model.pixels``). Images do not interact in eval
    mode, so one backward pass serves all.
    """
    model.eval()
    with torch.enable_grad():
        x = pixels.detach().clone().requires_grad_(True)
        logits = classifier(model(model.normalize(x)))
        target = logits.argmax(1) if labels is None else labels.to(logits.device)
        (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), x)
    return grad, target


def gradient_energy(grad: torch.Tensor) -> torch.Tensor:
    """Per-pixel energy: the squared gradient summed over the colour channels (N x H x W)."""
    return grad.square().sum(1)


def gradient_map(grad: torch.Tensor) -> torch.Tensor:
    """What the figures draw: |gradient|, max over the channels (N x H x W, as Simonyan et al.)."""
    return grad.abs().amax(1)
