"""tools/knn_eval.py end to end on real images: pretrained vs random, feature spaces, JSON."""

import json

import pytest

from tests.probe.helpers import folder_args, load_tool, probe_data

pytestmark = pytest.mark.usefixtures("one_thread")

TOOL = load_tool("knn_eval")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return probe_data(str(tmp_path_factory.getbasetemp() / "probe_data"))


def _run(root, weights, out, *opts):
    args = [*folder_args(root, weights, out), "KNN.K", "20", *opts]
    result = TOOL.main(TOOL.parse_args(["--dataset", "folder", *args]))
    with open(out / "knn.json") as f:
        assert json.load(f) == result
    return result


@pytest.mark.parametrize("name", ["caltech20", "scenes15"])
def test_pretrained_backbone_beats_a_random_one(data, tmp_path, name):
    pre = _run(data[name], data["weights"], tmp_path / "pre")
    rand = _run(data[name], "random", tmp_path / "rand")
    assert (pre["features"], rand["features"]) == ("embedding", "penultimate")  # "auto"
    assert (pre["k"], pre["temperature"]) == (20, 0.07)
    assert pre["top1"] >= rand["top1"] + 2.0 and rand["top1"] > 100 / pre["num_classes"], (pre, rand)


def test_feature_spaces(data, tmp_path):
    pen = _run(data["caltech20"], data["weights"], tmp_path / "pen", "KNN.FEATURES", "penultimate")
    emb = _run(data["caltech20"], data["weights"], tmp_path / "emb", "KNN.FEATURES", "embedding")
    assert pen["features"] == "penultimate" and pen["top1"] != emb["top1"]
    with pytest.raises(ValueError, match="has no embedding head"):
        _run(data["caltech20"], "random", tmp_path / "r", "KNN.FEATURES", "embedding")
    with pytest.raises(KeyError, match="KNN has no 'NEIGHBOURS'"):
        _run(data["caltech20"], "random", tmp_path / "r", "KNN.NEIGHBOURS", "5")
