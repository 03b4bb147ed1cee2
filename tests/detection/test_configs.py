"""configs/detection: every key is one detectron2 knows, and the protocols have the paper's numbers.

detectron2 need not be installed: ``_BASE_`` is merged here the way detectron2 merges it, and
keys are checked against ``../shared/detectron2-reference/d2_config_keys.json``.
"""

from __future__ import annotations

import glob
import json
import os
from ast import literal_eval
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "detection", "*.yaml")))
KEYS = os.path.join(REPO, "..", "shared", "detectron2-reference", "d2_config_keys.json")
# YAML value types that detectron2's merge accepts for a default of each type (a tuple may be written as a list).
ACCEPTS = {
    "bool": (bool,), "int": (int,), "float": (float, int), "str": (str,), "list": (list,), "tuple": (list, tuple),
}  # fmt: skip


def merged(path: str) -> dict[str, Any]:
    """The config file with its ``_BASE_`` chain merged (later files win), as one nested dict."""
    with open(path) as f:
        cfg = yaml.safe_load(f)
    base = cfg.pop("_BASE_", None)
    if base is None:
        return cfg
    return _deep_merge(merged(os.path.join(os.path.dirname(path), base)), cfg)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def flat(cfg: dict, prefix: str = "") -> dict[str, Any]:
    """Dotted keys; tuples written as strings are read with ``literal_eval``, as yacs does."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            written_tuple = isinstance(value, str) and value.startswith(("(", "["))
            out[f"{prefix}{key}"] = literal_eval(value) if written_tuple else value
    return out


@pytest.fixture(scope="module")
def d2_keys() -> dict[str, str]:
    if not os.path.exists(KEYS):
        pytest.skip(f"detectron2 reference {KEYS!r} is absent")
    with open(KEYS) as f:
        return json.load(f)["keys"]


def test_there_are_the_base_and_three_protocols():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"Base-RCNN-C4-BN.yaml", "voc07_R50_C4_9k.yaml", "voc0712_R50_C4_24k.yaml"} <= names
    assert "voc07_R50_C4_9k_supervised.yaml" in names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_key_exists_in_detectron2_with_a_fitting_type(path, d2_keys):
    for key, value in flat(merged(path)).items():
        assert key in d2_keys, f"{os.path.basename(path)}: detectron2 has no key {key}"
        kind = d2_keys[key]
        if kind in ACCEPTS:
            assert isinstance(value, ACCEPTS[kind]), f"{key}: {value!r} for a {kind}"
            assert not (kind in ("int", "float") and isinstance(value, bool)), key


def test_base_is_the_moco_transfer_setting():
    cfg = flat(merged(os.path.join(REPO, "configs", "detection", "Base-RCNN-C4-BN.yaml")))
    assert cfg["MODEL.RESNETS.NORM"] == cfg["MODEL.ROI_BOX_HEAD.NORM"] == "naiveSyncBN"  # MoCo's: lower variance
    assert cfg["MODEL.BACKBONE.FREEZE_AT"] == 0 and cfg["MODEL.RESNETS.STRIDE_IN_1X1"] is False
    assert cfg["MODEL.ROI_HEADS.NAME"] == "Res5ROIHeadsExtraNorm" and cfg["INPUT.FORMAT"] == "RGB"
    # torchvision's normalization in 0-255 units, the statistics the converted backbone was trained with
    assert cfg["MODEL.PIXEL_MEAN"] == pytest.approx([0.485 * 255, 0.456 * 255, 0.406 * 255])
    assert cfg["MODEL.PIXEL_STD"] == pytest.approx([0.229 * 255, 0.224 * 255, 0.225 * 255])


def test_protocols():
    paper = flat(merged(os.path.join(REPO, "configs", "detection", "voc07_R50_C4_9k.yaml")))
    assert paper["DATASETS.TRAIN"] == ("voc_2007_trainval",) and paper["DATASETS.TEST"] == ("voc_2007_test",)
    assert paper["SOLVER.MAX_ITER"] == 9000 and paper["MODEL.ROI_HEADS.NUM_CLASSES"] == 20
    moco = flat(merged(os.path.join(REPO, "configs", "detection", "voc0712_R50_C4_24k.yaml")))
    assert moco["DATASETS.TRAIN"] == ("voc_2007_trainval", "voc_2012_trainval")
    assert (moco["SOLVER.MAX_ITER"], moco["SOLVER.STEPS"], moco["SOLVER.BASE_LR"]) == (24000, (18000, 22000), 0.02)
    assert moco["SOLVER.IMS_PER_BATCH"] == 16 and moco["INPUT.MIN_SIZE_TEST"] == 800
    sizes = moco["INPUT.MIN_SIZE_TRAIN"]
    assert (sizes[0], sizes[-1], len(sizes)) == (480, 800, 11)
    supervised = flat(merged(os.path.join(REPO, "configs", "detection", "voc07_R50_C4_9k_supervised.yaml")))
    assert supervised["MODEL.WEIGHTS"].endswith(".pkl") and supervised["SOLVER.MAX_ITER"] == 9000
