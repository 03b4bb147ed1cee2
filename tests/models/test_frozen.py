"""The one frozen model: from each kind of weights file or random, its spaces, input, AlexNet layer and fingerprint."""

import numpy as np
import pytest
import torch
import torchvision

from pretrain.models import BackboneSpec, build_model
from pretrain.models.weights import load_frozen
from pretrain.probe.defaults import get_probe_cfg, load_probe_config
from pretrain.probe.launch import probe_model
from tests.conftest import tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def checkpoint(tmp_path):
    cfg = tiny_config(str(tmp_path / "cache"), str(tmp_path / "out"))
    model = build_model(cfg).eval()
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}, "config": cfg.dump()}, path)
    return str(path), model, cfg


def test_checkpoint_gives_its_embedding_and_input_size(checkpoint):
    path, reference, cfg = checkpoint
    frozen = load_frozen(path, name="m", space="embedding")
    assert frozen.size == cfg.INPUT.SIZE == 32 and frozen.name == "m"
    pixels = torch.rand(2, 3, 32, 32)
    normalized = (pixels - torch.tensor(cfg.INPUT.MEAN)[:, None, None]) / torch.tensor(cfg.INPUT.STD)[:, None, None]
    torch.testing.assert_close(frozen.normalize(pixels), normalized)
    features, embedding = frozen.forward_with_features(frozen.normalize(pixels))
    want_f, want_e = reference.forward_with_features(normalized)
    torch.testing.assert_close(features, want_f)
    torch.testing.assert_close(embedding, want_e)
    penultimate = load_frozen(path, name="m", space="penultimate", size=48)
    _, plain = penultimate.forward_with_features(frozen.normalize(pixels))
    torch.testing.assert_close(plain, torch.nn.functional.normalize(want_f, dim=1))
    assert load_frozen(path).space == "embedding"  # "auto": the head where the file has one
    assert not any(p.requires_grad for p in frozen.parameters())
    assert not frozen.train().training  # frozen: BatchNorm keeps the trained statistics
    assert frozen.fingerprint == penultimate.fingerprint and frozen.fingerprint.startswith("sha1:")  # the file's


def test_torchvision_file_has_no_embedding_head(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "tv.pth")
    frozen = load_frozen(str(tmp_path / "tv.pth"))
    assert (frozen.size, frozen.space) == (224, "penultimate")
    with pytest.raises(ValueError, match=r"tv\.pth.*no embedding head.*penultimate"):
        load_frozen(str(tmp_path / "tv.pth"), space="embedding")


def test_pixels_stretch_the_whole_image(checkpoint):
    frozen = load_frozen(checkpoint[0])
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 40:] = 255  # right half white
    x = frozen.pixels(image)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert (x[:, :, :16] == 0).all() and (x[:, :, 16:] == 1).all()  # nothing cropped away
    torch.testing.assert_close(frozen.prepare(image), frozen.normalize(x))


def _alexnet(*opts: object):
    cfg = get_probe_cfg()
    backbone = ["MODEL.BACKBONE.NAME", "alexnet_bn", "MODEL.BACKBONE.WIDTH", 0.125]
    cfg.merge_from_list(["MODEL.WEIGHTS", "random", *backbone, *opts])
    return probe_model(cfg, torch.device("cpu"))


def test_alexnet_is_probed_at_pooled_conv5_by_default_and_at_fc7_on_request():
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    conv5, fc7 = _alexnet(), _alexnet("MODEL.ALEXNET_LAYER", "fc7")
    with torch.no_grad():
        rows = conv5.backbone(x)
        assert rows.shape == (2, 32 * 6 * 6) == (2, conv5.backbone.out_channels)  # 256 x 6 x 6 at full width
        assert torch.equal(rows, conv5.backbone.net.forward_conv5(x))
        assert fc7.backbone(x).shape == (2, 512)  # 4096 at full width
    assert conv5.fingerprint != fc7.fingerprint  # cached features and probe checkpoints tell them apart


def test_random_weights_are_seeded_and_leave_the_global_generator_alone():
    spec = BackboneSpec("resnet18", width=0.125)
    state = torch.get_rng_state()
    a, b = load_frozen("random", random=spec, seed=3), load_frozen("random", random=spec, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.fingerprint == "random:resnet18:0.125:False:3" and a.space == "penultimate"
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="random weights need a backbone"):
        load_frozen("random")


def test_probe_config_gives_random_backbone_seed_and_input_statistics():
    cfg = get_probe_cfg()
    backbone = ["MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", 0.125, "SEED", 3]
    cfg.merge_from_list(["MODEL.WEIGHTS", "random", *backbone, "INPUT.MEAN", (0.5, 0.4, 0.3)])
    net = probe_model(cfg, torch.device("cpu"))
    want = load_frozen("random", random=BackboneSpec("resnet18", width=0.125), seed=3, mean=(0.5, 0.4, 0.3))
    assert net.fingerprint == want.fingerprint == "random:resnet18:0.125:False:3"
    torch.testing.assert_close(net.mean, want.mean)
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), want.state_dict().values(), strict=True))


def test_checkpoint_input_statistics_win_over_the_given_ones(checkpoint):
    path, _, cfg = checkpoint
    frozen = load_frozen(path, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    torch.testing.assert_close(frozen.mean.flatten(), torch.tensor(cfg.INPUT.MEAN))
    torch.testing.assert_close(frozen.std.flatten(), torch.tensor(cfg.INPUT.STD))


def test_unknown_layer_is_refused_by_key_when_the_config_is_loaded():
    with pytest.raises(ValueError, match="MODEL.ALEXNET_LAYER must be one of"):
        load_probe_config("", ["MODEL.ALEXNET_LAYER", "fc6"])
