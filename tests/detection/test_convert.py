"""The converter: detectron2 names and shapes, values kept, and refusals that say why."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
import torchvision

from detection.convert import Conversion, convert, detectron2_name, save_detectron2, save_torchvision
from pretrain.config import load_config
from pretrain.models import build_model
from pretrain.models.weights import load_backbone
from tests.conftest import REPO

REFERENCE = os.path.join(REPO, "..", "shared", "detectron2-reference", "d2_state_dicts.json")
EXTRA_NORM = "roi_heads.res5.norm."


def _checkpoint(path, name: str = "resnet50", *opts: str) -> str:
    """A DDP pretraining checkpoint (``module.backbone.*``, ``module.head.*``) of a random model."""
    cfg = load_config("", ["MODEL.BACKBONE.NAME", name, *opts])
    state = {f"module.{k}": v for k, v in build_model(cfg).state_dict().items()}
    torch.save({"model": state, "config": cfg.dump(), "epoch": 7}, path)
    return str(path)


@pytest.fixture(scope="module")
def ddp_checkpoint(tmp_path_factory) -> str:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint_last.pth")


@pytest.fixture(scope="module")
def conversion(ddp_checkpoint) -> Conversion:
    return convert(ddp_checkpoint)


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, list[int]]]:
    if not os.path.exists(REFERENCE):
        pytest.skip(f"detectron2 reference {REFERENCE!r} is absent")
    with open(REFERENCE) as f:
        return json.load(f)


@pytest.mark.parametrize("model", ["voc_r50_c4", "voc_r50_c4_extranorm"])
def test_every_tensor_matches_one_detectron2_parameter_and_covers_backbone_and_res5(conversion, reference, model):
    expected = reference[model]
    converted = conversion.detectron2
    covered = set()
    for key, value in converted.items():
        # detectron2's matching heuristic: a file key loads into the model key that ends with it
        matches = [k for k in expected if k == key or k.endswith("." + key)]
        assert len(matches) == 1, (key, matches)
        assert list(value.shape) == expected[matches[0]], key
        covered.add(matches[0])
    trunk = {k for k in expected if k.startswith(("backbone.", "roi_heads.res5.")) and not k.startswith(EXTRA_NORM)}
    assert covered == trunk
    assert len(converted) == 318


def test_pkl_and_pth_hold_the_checkpoint_values(conversion, ddp_checkpoint, tmp_path):
    save_detectron2(conversion, str(tmp_path / "w.pkl"))
    save_torchvision(conversion, str(tmp_path / "w.pth"))
    with open(tmp_path / "w.pkl", "rb") as f:
        payload = pickle.load(f)
    assert payload["__author__"] == "dilo" and payload["matching_heuristics"] is True
    source = torch.load(ddp_checkpoint)["model"]
    d2 = payload["model"]
    assert all(isinstance(v, np.ndarray) for v in d2.values())
    np.testing.assert_array_equal(
        d2["res5.2.conv3.norm.running_var"], source["module.backbone.layer4.2.bn3.running_var"]
    )
    np.testing.assert_array_equal(d2["stem.conv1.weight"], source["module.backbone.conv1.weight"])
    # the .pth is torchvision's resnet50 without fc, and dilo loads it back as the same backbone
    with torch.device("meta"):
        net = torchvision.models.resnet50()
    missing, unexpected = net.load_state_dict(torch.load(tmp_path / "w.pth"), strict=False, assign=True)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected
    assert load_backbone(str(tmp_path / "w.pth")).out_channels == 2048


def test_torchvision_state_dict_converts_without_fc(conversion, tmp_path):
    fc = {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    torch.save({**conversion.backbone, **fc}, tmp_path / "tv.pth")
    conversion = convert(str(tmp_path / "tv.pth"))
    assert conversion.dropped == {"fc.weight": (1000, 2048), "fc.bias": (1000,)}
    assert conversion.kind == "state dict" and len(conversion.backbone) == 318


def test_summary_names_counts_renames_and_dropped_head(conversion):
    text = conversion.summary()
    assert "converted 318 tensors (23.6 M values) of a ResNet-50 (width 1)" in text
    assert "epoch 7" in text
    assert "layer4.2.conv3.weight" in text and "res5.2.conv3.weight" in text and "(2048, 512, 1, 1)" in text
    assert "dropped 2 tensors (not backbone): module.head.bias (128,), module.head.weight (128, 2048)" in text


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("conv1.weight", "stem.conv1.weight"),
        ("bn1.num_batches_tracked", "stem.conv1.norm.num_batches_tracked"),
        ("layer1.0.downsample.0.weight", "res2.0.shortcut.weight"),
        ("layer3.5.downsample.1.running_mean", "res4.5.shortcut.norm.running_mean"),
        ("layer4.1.bn2.bias", "res5.1.conv2.norm.bias"),
    ],
)
def test_detectron2_names(key, name):
    assert detectron2_name(key) == name


def test_other_backbones_are_refused_by_name(tmp_path):
    with pytest.raises(
        ValueError, match=r"is a pretraining checkpoint of a resnet18; detectron2's R50-C4 needs one of"
    ):
        convert(_checkpoint(tmp_path / "r18.pth", "resnet18", "MODEL.BACKBONE.WIDTH", "0.25"))
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "tv18.pth")
    with pytest.raises(ValueError, match=r"tv18\.pth' holds a ResNet-18 \(\[2, 2, 2, 2\] basic blocks"):
        convert(str(tmp_path / "tv18.pth"))
    torch.save({"model": {}, "config": "MODEL:\n  BACKBONE:\n    NAME: alexnet_bn\n"}, tmp_path / "alexnet.pth")
    with pytest.raises(ValueError, match=r"alexnet\.pth' is a pretraining checkpoint of a alexnet_bn"):
        convert(str(tmp_path / "alexnet.pth"))
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tmp_path / "mobilenet.pth")
    with pytest.raises(ValueError, match=r"mobilenet\.pth' is not a ResNet state dict"):
        convert(str(tmp_path / "mobilenet.pth"))


def test_empty_and_partial_models_are_refused(conversion, tmp_path):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50"])
    torch.save({"model": {}, "config": cfg.dump()}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match=r"empty\.pth' has no backbone tensors \(0 tensors in all\)"):
        convert(str(tmp_path / "empty.pth"))
    torch.save({"head.weight": torch.zeros(128, 2048)}, tmp_path / "head_only.pth")
    with pytest.raises(ValueError, match=r"head_only\.pth' has no backbone tensors \(1 tensors in all\)"):
        convert(str(tmp_path / "head_only.pth"))
    state = dict(conversion.backbone)
    del state["layer3.0.conv1.weight"]
    state["layer2.0.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial ResNet-50.*1 missing \['layer3\.0\.conv1\.weight'\].*1 mis-shaped"):
        convert(str(tmp_path / "partial.pth"))


def test_cifar_stem_is_refused(tmp_path):
    path = _checkpoint(
        tmp_path / "cifar.pth", "resnet50", "MODEL.BACKBONE.CIFAR_STEM", "True", "MODEL.BACKBONE.WIDTH", "0.25"
    )
    with pytest.raises(ValueError, match=r"cifar\.pth' has the 3x3 CIFAR stem"):
        convert(path)


def test_classic_torchvision_file_without_batch_counters_converts(tmp_path):
    """resnet50-19c8e357.pth (pre-0.4.1) has no num_batches_tracked; the output is that of a current file."""
    current = torchvision.models.resnet50().state_dict()
    classic = {k: v for k, v in current.items() if not k.endswith("num_batches_tracked")}
    torch.save(classic, tmp_path / "resnet50-classic.pth")
    result = convert(str(tmp_path / "resnet50-classic.pth"))
    assert len(result.backbone) == 318 and result.dropped == {"fc.bias": (1000,), "fc.weight": (1000, 2048)}
    assert torch.equal(result.backbone["layer4.2.conv3.weight"], current["layer4.2.conv3.weight"])
