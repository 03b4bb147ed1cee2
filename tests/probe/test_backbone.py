"""The frozen network a probe reads: an AlexNet at the chosen layer (conv5 by default, as InstDisc's protocol)."""

import pytest
import torch

from pretrain.probe.backbone import load_frozen
from pretrain.probe.defaults import get_probe_cfg, load_probe_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _alexnet(*opts: object):
    cfg = get_probe_cfg()
    backbone = ["MODEL.BACKBONE.NAME", "alexnet_bn", "MODEL.BACKBONE.WIDTH", 0.125]
    cfg.merge_from_list(["MODEL.WEIGHTS", "random", *backbone, *opts])
    return load_frozen(cfg, torch.device("cpu"))


def test_alexnet_is_probed_at_pooled_conv5_by_default_and_at_fc7_on_request():
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    conv5, fc7 = _alexnet(), _alexnet("MODEL.ALEXNET_LAYER", "fc7")
    with torch.no_grad():
        rows = conv5.backbone(x)
        assert rows.shape == (2, 32 * 6 * 6) == (2, conv5.backbone.out_channels)  # 256 x 6 x 6 at full width
        assert torch.equal(rows, conv5.backbone.net.forward_conv5(x))
        assert fc7.backbone(x).shape == (2, 512)  # 4096 at full width
    assert conv5.fingerprint != fc7.fingerprint  # cached features and probe checkpoints tell them apart


def test_unknown_layer_is_refused_by_key_when_the_config_is_loaded():
    with pytest.raises(ValueError, match="MODEL.ALEXNET_LAYER must be one of"):
        load_probe_config("", ["MODEL.ALEXNET_LAYER", "fc6"])
