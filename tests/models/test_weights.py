"""Loading frozen backbones from each kind of weights file, and failing clearly on others."""

from __future__ import annotations

import pytest
import torch
import torchvision

from pretrain.config import load_config
from pretrain.models import build_model
from pretrain.models.weights import backbone_state_dict, infer_resnet, load_backbone


@pytest.mark.parametrize(("ctor", "depth"), [(torchvision.models.resnet18, 18), (torchvision.models.resnet50, 50)])
def test_torchvision_weights_load_with_inferred_architecture(tmp_path, ctor, depth):
    net = ctor()
    torch.save(net.state_dict(), tmp_path / "tv.pth")
    backbone = load_backbone(str(tmp_path / "tv.pth"))
    x = torch.randn(2, 3, 64, 64)
    net.eval()
    net.fc = torch.nn.Identity()
    assert torch.allclose(backbone(x), net(x), atol=1e-5)
    assert backbone.out_channels == (512 if depth == 18 else 2048)


def test_pretraining_checkpoint_and_converted_file_give_the_same_backbone(tmp_path):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50w2", "MODEL.BACKBONE.CIFAR_STEM", "True"])
    model = build_model(cfg).eval()
    ddp_state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"model": ddp_state, "config": cfg.dump()}, tmp_path / "ckpt.pth")
    torch.save(backbone_state_dict(ddp_state), tmp_path / "converted.pth")
    x = torch.randn(2, 3, 32, 32)
    expected = model.backbone(x)
    for name in ("ckpt.pth", "converted.pth"):
        backbone = load_backbone(str(tmp_path / name))
        assert backbone.out_channels == 4096
        assert torch.allclose(backbone(x), expected, atol=1e-5), name


def test_head_and_wrappers_are_dropped():
    state = {"module.backbone.conv1.weight": torch.zeros(1), "module.head.weight": torch.zeros(1), "fc.bias": 0}
    assert list(backbone_state_dict(state)) == ["conv1.weight"]


def test_corrupt_missing_and_foreign_files_name_the_file(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"bad\.pth.*corrupt"):
        load_backbone(str(tmp_path / "bad.pth"))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_backbone(str(tmp_path / "nope.pth"))
    torch.save(torchvision.models.vgg11().state_dict(), tmp_path / "vgg.pth")
    with pytest.raises(ValueError, match=r"vgg\.pth.*not a ResNet"):
        load_backbone(str(tmp_path / "vgg.pth"))


def test_partial_state_dict_is_refused(tmp_path):
    state = torchvision.models.resnet18().state_dict()
    del state["layer3.0.conv1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial\.pth.*1 missing.*layer3\.0\.conv1\.weight"):
        load_backbone(str(tmp_path / "partial.pth"))


def test_infer_resnet_reads_width():
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", "0.5"])
    state = build_model(cfg).state_dict()
    assert infer_resnet(backbone_state_dict(state)).out_channels == 256


def test_classic_torchvision_file_without_batch_counters_loads(tmp_path):
    """Files saved before PyTorch 0.4.1 (resnet50-19c8e357.pth) have no num_batches_tracked buffers."""
    net = torchvision.models.resnet50().eval()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(state) == 267
    torch.save(state, tmp_path / "resnet50-classic.pth")
    backbone = load_backbone(str(tmp_path / "resnet50-classic.pth"))
    net.fc = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(backbone(x), net(x), atol=1e-5)
