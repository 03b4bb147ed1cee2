"""Models under diagnosis from command-line specs: names and their distinctness."""

import pytest
import torch

from pretrain.diagnosis.models import load_models, model_spec
from pretrain.models import build_model
from tests.conftest import tiny_config


@pytest.fixture
def checkpoint(tmp_path):
    cfg = tiny_config(str(tmp_path / "cache"), str(tmp_path / "out"))
    path = tmp_path / "ckpt.pth"
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, path)
    return str(path)


def test_specs_and_distinct_names(checkpoint):
    assert model_spec("base=a/b.pth") == ("base", "a/b.pth")
    assert model_spec("runs/x/checkpoint_last.pth") == ("checkpoint_last", "runs/x/checkpoint_last.pth")
    with pytest.raises(ValueError, match="NAME=PATH"):
        model_spec("=a.pth")
    with pytest.raises(ValueError, match="distinct"):
        load_models([checkpoint, checkpoint])
    models = load_models([f"a={checkpoint}", f"b={checkpoint}"], size=48)
    assert [m.name for m in models] == ["a", "b"] and {(m.space, m.size) for m in models} == {("penultimate", 48)}
