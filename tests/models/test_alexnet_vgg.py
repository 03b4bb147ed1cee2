"""AlexNet-BN and VGG16-BN: shapes at 32/64/224 px, parameters, registry, a training run."""

import os

import pytest
import torch
import torchvision

from pretrain.engine import Trainer
from pretrain.models import BACKBONE_REGISTRY, BackboneSpec, build_backbone
from pretrain.models.weights import load_backbone
from tests.conftest import tiny_config


def _torchvision_vgg16_bn_features() -> torch.nn.Module:
    """``torchvision.models.vgg16_bn().features`` without building its 120M-parameter classifier."""
    return torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)


def test_registered_under_the_config_names():
    names = {name for name, _ in BACKBONE_REGISTRY}
    assert {"alexnet_bn", "vgg16_bn"} <= names


@pytest.mark.parametrize(
    ("size", "small_stem", "conv5"),
    [(224, False, 13), (64, False, 3), (64, True, 31), (32, True, 15)],
)
def test_alexnet_shapes(size, small_stem, conv5):
    net = build_backbone(BackboneSpec("alexnet_bn", width=0.25, cifar_stem=small_stem)).eval()
    x = torch.randn(2, 3, size, size)
    assert net.forward_features(x).shape == (2, 64, conv5, conv5)
    assert net(x).shape == (2, 1024) and net.out_channels == 1024  # fc7 at width 0.25


def test_alexnet_refuses_images_its_stem_cannot_pool():
    net = build_backbone(BackboneSpec("alexnet_bn", width=0.25)).eval()
    with pytest.raises(ValueError, match="at least 63 px.*CIFAR_STEM"):
        net(torch.randn(1, 3, 32, 32))


def test_alexnet_parameter_count():
    """conv1-5 without biases (BN follows), 5 conv BNs, fc6 (256 x 6 x 6 -> 4096), fc7, 2 fc BNs."""
    c = (96, 256, 384, 384, 256)
    convs = 3 * c[0] * 11 * 11 + c[0] * c[1] * 5 * 5 + 9 * (c[1] * c[2] + c[2] * c[3] + c[3] * c[4])
    fcs = 256 * 36 * 4096 + 4096 * 4096
    bns = 2 * (sum(c) + 2 * 4096)
    net = build_backbone(BackboneSpec("alexnet_bn"))
    assert sum(p.numel() for p in net.parameters()) == convs + fcs + bns == 58_290_912
    assert net.out_channels == 4096


@pytest.mark.parametrize(("size", "conv5"), [(224, 7), (64, 2), (32, 1)])
def test_vgg_shapes(size, conv5):
    net = build_backbone(BackboneSpec("vgg16_bn", width=0.125)).eval()
    x = torch.randn(2, 3, size, size)
    assert net.forward_features(x).shape == (2, 64, conv5, conv5)
    assert net(x).shape == (2, 64) and net.out_channels == 64


def test_vgg_features_are_torchvision_vgg16_bn_features():
    """Same names, shapes and outputs: supervised torchvision weights load into ``features``."""
    ref = _torchvision_vgg16_bn_features().state_dict()
    ours = build_backbone(BackboneSpec("vgg16_bn"))
    state = {f"features.{k}": v for k, v in ref.items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    assert sum(v.numel() for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")) == sum(
        v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked")
    )
    assert ours.out_channels == 512


def test_vgg_loads_torchvision_weights_and_matches_its_features():
    torch.manual_seed(0)
    ref = _torchvision_vgg16_bn_features().eval()
    ours = build_backbone(BackboneSpec("vgg16_bn")).eval()
    ours.load_state_dict({f"features.{k}": v for k, v in ref.state_dict().items()})
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(ours(x), ref(x).mean((2, 3)), atol=1e-5)


@pytest.mark.parametrize(("name", "opts"), [("alexnet_bn", ["MODEL.BACKBONE.CIFAR_STEM", "True"]), ("vgg16_bn", [])])
def test_trainer_trains_and_probes_each(embedded_cache, tmp_path, name, opts):
    cfg = tiny_config(
        embedded_cache,
        str(tmp_path),
        *("MODEL.BACKBONE.NAME", name, "SOLVER.EPOCHS", "1", "TEST.LINEAR_PROBE", "True", *opts),
    )
    trainer = Trainer(cfg, torch.device("cpu"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.train()
    trainer.close()
    changed = [k for k, v in trainer.model.state_dict().items() if k.endswith("weight") and not v.equal(before[k])]
    assert len(changed) == sum(k.endswith("weight") for k in before)  # every layer learned
    assert 0 <= result["knn_top1"] <= 100 and 0 <= result["linear_top1"] <= 100
    trainer.save()
    loaded = load_backbone(os.path.join(cfg.OUTPUT_DIR, "checkpoint_last.pth"))
    x = torch.randn(3, 3, 32, 32)
    trainer.model.eval()
    feats, emb = trainer.model.forward_with_features(x)
    assert feats.shape == (3, trainer.model.backbone.out_channels) and emb.shape == (3, 16)
    assert torch.allclose(loaded(x), feats, atol=1e-5)  # the probes' features, back from the checkpoint
