import pytest
import torch
import torchvision

from pretrain.models import BACKBONE_REGISTRY, BackboneSpec, build_backbone, build_model
from tests.conftest import backbone_config


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_parameter_names_and_shapes_match_torchvision(name):
    ours = build_backbone(BackboneSpec(name)).state_dict()
    ref = {k: v for k, v in getattr(torchvision.models, name)().state_dict().items() if not k.startswith("fc.")}
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items()}


def test_torchvision_weights_give_torchvision_features():
    ref = torchvision.models.resnet18().eval()
    ours = build_backbone(BackboneSpec("resnet18")).eval()
    ours.load_state_dict({k: v for k, v in ref.state_dict().items() if not k.startswith("fc.")})
    x = torch.randn(2, 3, 64, 64)
    ref.fc = torch.nn.Identity()
    assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_resnet50_w2_doubles_every_width():
    net = build_backbone(BackboneSpec("resnet50w2"))
    assert net.conv1.out_channels == 128
    assert net.layer1[0].conv1.out_channels == 128  # bottleneck width doubled too
    assert net.out_channels == 4096


def test_cifar_stem_keeps_resolution():
    x = torch.randn(2, 3, 32, 32)
    assert build_backbone(BackboneSpec("resnet18", cifar_stem=True, width=0.25)).forward_features(x).shape[-1] == 4
    assert build_backbone(BackboneSpec("resnet18", width=0.25)).forward_features(x).shape[-1] == 1


def test_embedding_is_unit_norm_128d():
    model = build_model(backbone_config("resnet18", WIDTH=0.25)).eval()
    feats, emb = model.forward_with_features(torch.randn(3, 3, 32, 32))
    assert feats.shape == (3, 128) and emb.shape == (3, 128)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3))


def test_unknown_backbone_lists_known_ones():
    with pytest.raises(KeyError, match="resnet50w2"):
        build_backbone(BackboneSpec("resnet51"))
    assert "resnet50" in BACKBONE_REGISTRY
