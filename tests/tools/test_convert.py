"""tools/convert.py as users run it: a DDP checkpoint in, both files and a summary out; bad input refused."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import torch

from pretrain.config import load_config
from pretrain.models import build_model
from tests.conftest import REPO

TOOL = os.path.join(REPO, "tools", "convert.py")


def test_ddp_checkpoint_converts_to_pkl_and_pth_with_summary(tmp_path):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50"])
    state = {f"module.{k}": v for k, v in build_model(cfg).state_dict().items()}
    torch.save({"model": state, "config": cfg.dump(), "epoch": 200}, tmp_path / "checkpoint_last.pth")
    out = subprocess.run(
        [sys.executable, TOOL, str(tmp_path / "checkpoint_last.pth"), str(tmp_path / "dilo.pkl")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "converted 318 tensors" in out.stdout and "epoch 200" in out.stdout
    assert "dropped 2 tensors (not backbone): module.head.bias (128,), module.head.weight (128, 2048)" in out.stdout
    assert f"detectron2   {tmp_path / 'dilo.pkl'}" in out.stdout
    with open(tmp_path / "dilo.pkl", "rb") as f:
        assert len(pickle.load(f)["model"]) == 318
    backbone = torch.load(tmp_path / "dilo.torchvision.pth")
    assert torch.equal(backbone["layer4.2.conv3.weight"], state["module.backbone.layer4.2.conv3.weight"])
    assert not any(k.startswith(("head.", "fc.", "module.")) for k in backbone)


def test_refusal_exits_with_the_reason_and_writes_nothing(tmp_path):
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", "0.25"])
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, tmp_path / "r18.pth")
    out = subprocess.run(
        [sys.executable, TOOL, str(tmp_path / "r18.pth"), str(tmp_path / "r18.pkl")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1
    assert "convert:" in out.stderr and "pretraining checkpoint of a resnet18" in out.stderr
    assert sorted(os.listdir(tmp_path)) == ["r18.pth"]
