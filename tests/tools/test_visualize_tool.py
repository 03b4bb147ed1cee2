"""tools/visualize.py neighbors, gradients and saliency end to end: tiny checkpoints, the tiny embedded set, SOD."""

import os

import cv2
import pytest
import torch

from pretrain.data.build import embedded_spec
from pretrain.data.embedded import ensure_embedded
from pretrain.models import build_model
from pretrain.visualize.grid import GAP, HEADER
from tests.conftest import load_tool, shared_data, tiny_config

TOOL = load_tool("visualize")


def run(*args: str) -> None:
    TOOL.main(TOOL.parse_args(list(args)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, embedded_cache):
    """(embedded set root, two tiny pretraining checkpoints with different random weights)."""
    out = tmp_path_factory.mktemp("ckpt")
    cfg = tiny_config(embedded_cache, str(out))
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(str(out / f"m{seed}.pth"))
        torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, paths[-1])
    return ensure_embedded(embedded_spec(cfg), embedded_cache), paths


def size(path) -> tuple[int, int]:
    figure = cv2.imread(str(path))
    assert figure is not None
    return figure.shape[:2]


def test_neighbors(tmp_path, tiny):
    root, (a, b) = tiny
    out = tmp_path / "nn.png"
    run("neighbors", "--queries", f"{root}/val", "--gallery", f"{root}/train", "--model", f"a={a}",
        "--model", f"b={b}", "--num", "3", "--k", "2", "--cell", "48", "64", "--out", str(out))  # fmt: skip
    assert size(out) == (2 * HEADER + 3 * (48 + GAP), 5 * (64 + GAP) - GAP)  # query + 2 models x 2


def test_gradients_fits_saves_and_reuses_classifiers(tmp_path, tiny):
    root, (a, b) = tiny
    out, classifiers = tmp_path / "grad.png", tmp_path / "classifiers"
    args = ["gradients", "--images", f"{root}/val", "--masks", f"{root}/masks/val", "--train", f"{root}/train",
            "--classifiers", str(classifiers), "--model", f"a={a}", "--model", f"b={b}", "--num", "2", "--random",
            "--out", str(out)]  # fmt: skip
    run(*args)
    assert size(out) == (HEADER + 2 * (128 + GAP), 4 * (128 + GAP) - GAP)  # image, mask, 2 models
    assert sorted(os.listdir(classifiers)) == ["a.pth", "b.pth"]
    first = cv2.imread(str(out))
    without_train = [x for x in args if x not in ("--train", f"{root}/train")]
    run(*without_train, "--mask-out", "0.5")  # the saved classifiers are loaded: no --train needed
    assert size(out) == first.shape[:2] and (cv2.imread(str(out)) != first).any()


def test_gradients_on_sod_with_predicted_class(tmp_path, tiny):
    root, (a, _) = tiny
    out = tmp_path / "grad.png"
    run("gradients", "--images", shared_data("sod-dev", "images"), "--train", f"{root}/train", "--model", a,
        "--num", "1", "--out", str(out))  # fmt: skip
    assert size(out) == (HEADER + 128 + GAP, 2 * (128 + GAP) - GAP)


def test_saliency(tmp_path):
    out = tmp_path / "sal.png"
    run("saliency", "--images", shared_data("sod-dev", "images"), "--masks", shared_data("sod-dev", "masks"),
        "--methods", "rbd,gs", "--num", "2", "--out", str(out))  # fmt: skip
    assert size(out) == (HEADER + 2 * (120 + GAP), 4 * (180 + GAP) - GAP)


def test_backgrounds(tmp_path, tiny):
    root, _ = tiny
    out = tmp_path / "bg.png"
    run("backgrounds", "--images", f"{root}/val", "--masks", f"{root}/masks/val", "--num", "3", "--out", str(out))
    assert size(out) == (HEADER + 3 * (96 + GAP), 8 * (96 + GAP) - GAP)  # the 8 variants


def test_errors_name_what_is_wrong(tmp_path, tiny):
    root, (a, _) = tiny
    tv = tmp_path / "tv.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, tv)
    with pytest.raises(ValueError, match="distinct"):
        run("neighbors", "--queries", f"{root}/val", "--gallery", f"{root}/train", "--model", a, "--model", a)
    with pytest.raises(ValueError, match=r"no classifier for model 'a'"):
        run("gradients", "--images", f"{root}/val", "--model", f"a={a}", "--out", str(tmp_path / "x.png"))
    with pytest.raises(KeyError, match="unknown saliency method 'nope'"):
        run("saliency", "--images", f"{root}/val", "--methods", "nope")
