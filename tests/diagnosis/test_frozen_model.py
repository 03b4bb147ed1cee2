"""Models under diagnosis from each kind of weights file: spaces, input size, pixels and names."""

import numpy as np
import pytest
import torch
import torchvision

from pretrain.diagnosis.frozen_model import load_frozen_model, load_models, model_spec
from pretrain.models import build_model
from tests.conftest import tiny_config


@pytest.fixture
def checkpoint(tmp_path):
    cfg = tiny_config(str(tmp_path / "cache"), str(tmp_path / "out"))
    model = build_model(cfg).eval()
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}, "config": cfg.dump()}, path)
    return str(path), model, cfg


def test_checkpoint_gives_its_embedding_and_input_size(checkpoint):
    path, reference, cfg = checkpoint
    frozen = load_frozen_model("m", path, space="embedding")
    assert frozen.size == cfg.INPUT.SIZE == 32 and frozen.name == "m"
    pixels = torch.rand(2, 3, 32, 32)
    normalized = (pixels - torch.tensor(cfg.INPUT.MEAN)[:, None, None]) / torch.tensor(cfg.INPUT.STD)[:, None, None]
    features, embedding = frozen.forward_with_features(pixels)
    want_f, want_e = reference.forward_with_features(normalized)
    torch.testing.assert_close(features, want_f)
    torch.testing.assert_close(embedding, want_e)
    _, plain = load_frozen_model("m", path, size=48).forward_with_features(pixels)
    torch.testing.assert_close(plain, torch.nn.functional.normalize(want_f, dim=1))  # penultimate space
    assert not any(p.requires_grad for p in frozen.parameters())


def test_torchvision_file_has_no_embedding_head(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "tv.pth")
    assert load_frozen_model("tv", str(tmp_path / "tv.pth")).size == 224
    with pytest.raises(ValueError, match=r"tv\.pth.*no embedding head.*penultimate"):
        load_frozen_model("tv", str(tmp_path / "tv.pth"), space="embedding")


def test_pixels_stretch_the_whole_image(checkpoint):
    frozen = load_frozen_model("m", checkpoint[0])
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 40:] = 255  # right half white
    x = frozen.pixels(image)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert (x[:, :, :16] == 0).all() and (x[:, :, 16:] == 1).all()  # nothing cropped away


def test_specs_and_distinct_names(checkpoint):
    assert model_spec("base=a/b.pth") == ("base", "a/b.pth")
    assert model_spec("runs/x/checkpoint_last.pth") == ("checkpoint_last", "runs/x/checkpoint_last.pth")
    with pytest.raises(ValueError, match="NAME=PATH"):
        model_spec("=a.pth")
    with pytest.raises(ValueError, match="distinct"):
        load_models([checkpoint[0], checkpoint[0]])
    assert [m.name for m in load_models([f"a={checkpoint[0]}", f"b={checkpoint[0]}"])] == ["a", "b"]
