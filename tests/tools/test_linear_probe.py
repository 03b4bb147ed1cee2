"""tools/linear_probe.py end to end on real images: full and fast protocol, ten crops, resume, bad weights."""

import json

import pytest
import torch

from pretrain.probe import cache
from tests.conftest import session_folder
from tests.probe.helpers import assert_distinct_features, folder_args, load_tool, probe_data

pytestmark = pytest.mark.usefixtures("one_thread")

TOOL = load_tool("linear_probe")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    with session_folder(tmp_path_factory, "probe_data") as folder:  # made once, whichever process comes first
        return probe_data(folder)


def _run(root, weights, out, *opts, resume=False):
    args = [*folder_args(root, weights, out), "SOLVER.IMS_PER_BATCH", "64", *opts]
    result = TOOL.main(TOOL.parse_args(["--dataset", "folder", *(["--resume"] if resume else []), *args]))
    with open(out / "linear_probe.json") as f:
        assert json.load(f) == result
    return result


@pytest.mark.parametrize("name", ["caltech20", "scenes15"])
def test_pretrained_and_random_backbones(data, tmp_path, name):
    """The fast probe (L-BFGS on center-crop features): deterministic, and seconds per run."""
    fast = ["FAST.ENABLED", "True", "FAST.SOLVER", "lbfgs"]
    pre = _run(data[name], data["weights"], tmp_path / "pre", *fast)
    rand = _run(data[name], "random", tmp_path / "rand", *fast)
    assert pre["mode"] == "fast-lbfgs" and pre["train_images"] == {"caltech20": 800, "scenes15": 600}[name]
    assert min(pre["top1"], rand["top1"]) > 2 * 100 / pre["num_classes"], (pre, rand)
    assert_distinct_features(tmp_path / "cache", 4)  # train and val, each network's own


def test_full_protocol_learns_on_caltech20(data, tmp_path):
    """The paper's protocol (lr 30, momentum 0.9, no decay; RandomResizedCrop + flip), on a 3-epoch schedule."""
    out = tmp_path / "full"
    result = _run(
        data["caltech20"], data["weights"], out, "SOLVER.EPOCHS", "3", "SOLVER.STEPS", "(2,)", "TEST.PERIOD", "1"
    )
    assert result["mode"] == "full" and result["epochs"] == 3
    assert result["top1"] > 3 * 100 / 20 and result["top5"] > result["top1"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "val_top1" in r] == [0, 1, 2]
    assert {r["lr"] for r in records if "loss" in r} == {30.0, 3.0}


def test_fast_sgd_reruns_from_the_cache_and_resumes(data, tmp_path, monkeypatch):
    opts = ["FAST.ENABLED", "True", "FAST.VIEWS", "1", "SOLVER.EPOCHS", "4", "SOLVER.STEPS", "(3,)"]
    first = _run(data["scenes15"], data["weights"], tmp_path / "a", *opts)
    assert first["mode"] == "fast-sgd"

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(cache, "gather_outputs", no_extraction)
    _run(data["scenes15"], data["weights"], tmp_path / "b", *opts[:-4], "SOLVER.EPOCHS", "2", "SOLVER.STEPS", "(3,)")
    resumed = _run(data["scenes15"], data["weights"], tmp_path / "b", *opts, resume=True)
    assert resumed["top1"] == first["top1"]
    a, b = (torch.load(tmp_path / d / "probe_last.pth", weights_only=True)["model"] for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ten_crop_testing(data, tmp_path):
    result = _run(data["caltech20"], data["weights"], tmp_path, "FAST.ENABLED", "True", "FAST.SOLVER", "lbfgs",
                  "TEST.TEN_CROP", "True")  # fmt: skip
    assert result["ten_crop"] and result["top1"] > 3 * 100 / 20


def test_wrong_or_corrupt_weights_stop_with_the_file_named(data, tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=f"weights file '{corrupt}' is corrupt"):
        _run(data["caltech20"], str(corrupt), tmp_path / "out")
    wrong = tmp_path / "optimizer.pth"
    torch.save({"state": {}, "param_groups": [torch.zeros(1)]}, wrong)
    with pytest.raises(ValueError, match=f"'{wrong}' is not a ResNet state dict"):
        _run(data["caltech20"], str(wrong), tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        _run(data["caltech20"], str(tmp_path / "missing.pth"), tmp_path / "out")
