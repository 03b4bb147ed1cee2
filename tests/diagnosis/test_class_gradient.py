"""Class-score gradients: exact on a model with a known gradient, eval mode, input-only, and the classifier."""

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.class_gradient import (
    class_gradients,
    fit_classifier,
    gradient_energy,
    gradient_map,
    load_classifier,
    save_classifier,
    true_labels,
)
from pretrain.diagnosis.localization import localization_score
from pretrain.models.frozen import FrozenModel

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)


class Corner(nn.Module):
    """Mean of the top-left 4 x 4 pixels through a BatchNorm: a known gradient, and batch coupling in train mode."""

    out_channels = 3

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.bn.running_var.fill_(4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x[:, :, :4, :4]).mean((2, 3))


def corner_model() -> tuple[FrozenModel, nn.Linear]:
    classifier = nn.Linear(3, 2)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]]))
    return FrozenModel(Corner(), name="corner", size=8, mean=MEAN, std=STD), classifier


def test_gradient_is_exact_and_only_on_the_pixels_the_model_reads():
    model, classifier = corner_model()
    pixels = torch.rand(3, 3, 8, 8)
    grad, target = class_gradients(model, classifier, pixels, torch.tensor([0, 1, 0]))
    assert target.tolist() == [0, 1, 0]
    bn_scale = 1 / (4.0 + model.backbone.bn.eps) ** 0.5
    expected = classifier.weight[0].detach() / torch.tensor(STD) * bn_scale / 16  # d logit / d pixel, class 0
    torch.testing.assert_close(grad[0, :, :4, :4], expected[:, None, None].expand(3, 4, 4))
    assert (grad[:, :, 4:] == 0).all() and (grad[:, :, :, 4:] == 0).all()
    fg = torch.zeros(3, 8, 8, dtype=torch.bool)
    fg[:, :4, :4] = True
    assert localization_score(gradient_energy(grad), fg).tolist() == [1.0, 1.0, 1.0]
    assert localization_score(gradient_energy(grad), ~fg).tolist() == [0.0, 0.0, 0.0]


def test_eval_mode_input_only_and_images_independent():
    model, classifier = corner_model()
    model.train()  # a caller's stray train(): gradients must still come from eval mode
    pixels = torch.rand(2, 3, 8, 8)
    grad, _ = class_gradients(model, classifier, pixels, torch.tensor([0, 1]))
    alone, _ = class_gradients(model, classifier, pixels[1:], torch.tensor([1]))
    torch.testing.assert_close(grad[1:], alone)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert not pixels.requires_grad


def test_predicted_class_and_maps():
    model, classifier = corner_model()
    pixels = torch.rand(4, 3, 8, 8)
    _, target = class_gradients(model, classifier, pixels)
    assert target.tolist() == classifier(model(model.normalize(pixels))).argmax(1).tolist()
    grad = torch.tensor([[[[1.0]], [[-3.0]], [[2.0]]]])  # 1 x 3 x 1 x 1
    assert gradient_energy(grad).item() == 14.0 and gradient_map(grad).item() == 3.0


def colour_folder(root, classes: dict[str, tuple[int, int, int]], n: int = 6) -> LabeledImages:
    rng = np.random.default_rng(0)
    for name, colour in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            image = np.clip(np.array(colour) + rng.integers(-30, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
            assert cv2.imwrite(str(root / name / f"{i}.png"), image[..., ::-1])
    return LabeledImages.from_folder(str(root))


class MeanColour(nn.Module):
    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def test_classifier_fits_saves_and_loads(tmp_path):
    images = colour_folder(tmp_path / "train", {"blue": (20, 20, 220), "red": (220, 20, 20)})
    model = FrozenModel(MeanColour(), name="mean", size=8, mean=MEAN, std=STD)
    probe = fit_classifier(model, images, torch.device("cpu"))
    pixels = torch.stack([model.pixels(images.image(i)) for i in range(len(images))])
    assert probe(model(model.normalize(pixels))).argmax(1).tolist() == images.labels.tolist()
    save_classifier(probe, images.classes, str(tmp_path / "c.pth"))
    loaded, classes = load_classifier(str(tmp_path / "c.pth"), model)
    assert classes == ["blue", "red"]
    torch.testing.assert_close(loaded(model(model.normalize(pixels))), probe(model(model.normalize(pixels))))
    wide = FrozenModel(nn.Sequential(MeanColour(), nn.Linear(3, 5)), name="wide", size=8, mean=MEAN, std=STD)
    wide.backbone.out_channels = 5
    with pytest.raises(ValueError, match=r"c\.pth.*reads 3 features.*gives 5"):
        load_classifier(str(tmp_path / "c.pth"), wide)
    (tmp_path / "bad.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"bad\.pth"):
        load_classifier(str(tmp_path / "bad.pth"), model)


def test_true_labels_follow_class_names(tmp_path):
    images = colour_folder(tmp_path / "val", {"blue": (0, 0, 255), "red": (255, 0, 0)}, n=1)
    assert true_labels(["red", "green", "blue"], images).tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"\['red'\].*does not know"):
        true_labels(["blue"], images)
