"""tools/convert.py as users run it: a DDP checkpoint in, both files and a summary out; bad input refused."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from pretrain.config import load_config
from pretrain.models import build_model
from tests.conftest import load_tool

TOOL = load_tool("convert")


def test_ddp_checkpoint_converts_to_pkl_and_pth_with_summary(tmp_path, capsys):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50"])
    state = {f"module.{k}": v for k, v in build_model(cfg).state_dict().items()}
    torch.save({"model": state, "config": cfg.dump(), "epoch": 200}, tmp_path / "checkpoint_last.pth")
    outputs = TOOL.main(TOOL.parse_args([str(tmp_path / "checkpoint_last.pth"), str(tmp_path / "dilo.pkl")]))
    assert outputs == {"detectron2": str(tmp_path / "dilo.pkl"), "torchvision": str(tmp_path / "dilo.torchvision.pth")}
    stdout = capsys.readouterr().out
    assert "converted 318 tensors" in stdout and "epoch 200" in stdout
    assert "dropped 2 tensors (not backbone): module.head.bias (128,), module.head.weight (128, 2048)" in stdout
    assert f"detectron2   {tmp_path / 'dilo.pkl'}" in stdout
    with open(tmp_path / "dilo.pkl", "rb") as f:
        assert len(pickle.load(f)["model"]) == 318
    backbone = torch.load(tmp_path / "dilo.torchvision.pth")
    assert torch.equal(backbone["layer4.2.conv3.weight"], state["module.backbone.layer4.2.conv3.weight"])
    assert not any(k.startswith(("head.", "fc.", "module.")) for k in backbone)


def test_refusal_exits_with_the_reason_and_writes_nothing(tmp_path):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", "0.25"])
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, tmp_path / "r18.pth")
    with pytest.raises(SystemExit, match=r"^convert: .*pretraining checkpoint of a resnet18"):
        TOOL.main(TOOL.parse_args([str(tmp_path / "r18.pth"), str(tmp_path / "r18.pkl")]))
    assert sorted(os.listdir(tmp_path)) == ["r18.pth"]
    with pytest.raises(SystemExit, match="refusing to overwrite the input"):
        TOOL.main(TOOL.parse_args([str(tmp_path / "r18.pth"), "x.pkl", "--torchvision", str(tmp_path / "r18.pth")]))


def test_the_two_outputs_must_be_two_files(tmp_path):
    """``X --torchvision X`` wrote the torchvision file over the detectron2 one and exited 0."""
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50"])
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, tmp_path / "in.pth")
    out = str(tmp_path / "out.pkl")
    with pytest.raises(SystemExit, match="is the detectron2 output too"):
        TOOL.main(TOOL.parse_args([str(tmp_path / "in.pth"), out, "--torchvision", out]))
    assert sorted(os.listdir(tmp_path)) == ["in.pth"]
