"""A MoCo v2 checkpoint transfers like an InstDisc one: the query encoder's backbone, nothing else."""

import pytest
import torch

from detection.convert import convert
from pretrain.config import load_config
from pretrain.engine.method import method_class
from pretrain.models import build_model
from pretrain.models.weights import read_model


def _checkpoint(path, *opts: str) -> str:
    """A checkpoint as the trainer writes it (model = the query encoder; MoCo's key encoder under criterion)."""
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50", *opts])
    model = build_model(cfg)
    method = method_class(cfg.MODEL.METHOD).from_config(cfg, model, 256, torch.device("cpu"))
    torch.save({"model": model.state_dict(), **method.checkpoint_state(), "config": cfg.dump(), "epoch": 1}, path)
    return str(path)


@pytest.fixture(scope="module")
def moco(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("moco") / "moco.pth"
    return _checkpoint(path, "MODEL.METHOD", "moco_v2", "MODEL.HEAD", "mlp", "MOCO.QUEUE_SIZE", "256")


def test_moco_and_instdisc_checkpoints_convert_to_the_same_detectron2_keys(moco, tmp_path):
    instdisc = _checkpoint(tmp_path / "instdisc.pth")
    a, b = convert(moco), convert(instdisc)
    assert a.detectron2.keys() == b.detectron2.keys()
    assert all(a.detectron2[k].shape == b.detectron2[k].shape for k in a.detectron2)
    query = torch.load(moco, weights_only=True)["model"]
    assert torch.equal(a.backbone["conv1.weight"], query["backbone.conv1.weight"])  # the query encoder's
    assert set(a.dropped) == {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"}  # MoCo v2's MLP


def test_probes_load_a_moco_checkpoint_with_its_mlp_head(moco):
    backbone, head, cfg = read_model(moco)
    assert isinstance(head, torch.nn.Sequential) and head[2].out_features == 128
    assert backbone.out_channels == 2048 and cfg.MODEL.METHOD == "moco_v2"
