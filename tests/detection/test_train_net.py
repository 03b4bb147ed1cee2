"""detection/train_net.py end to end on the CPU: converted weights in, a few iterations, a VOC evaluation out.

Needs detectron2 (skipped without it) and the real 100-image VOC set of ../shared/data.
"""

from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("detectron2", reason="detectron2 is not installed (README: install it by its official guide)")

from detectron2.checkpoint import DetectionCheckpointer

from detection import train_net
from detection.convert import convert, save_detectron2
from pretrain.config import load_config
from pretrain.models import build_model
from tests.conftest import REPO, shared_data

CONFIG = os.path.join(REPO, "configs", "detection", "voc07_R50_C4_9k.yaml")
# Tiny images, few proposals, 7x7 RoI pooling (res5 costs 1.6 GFLOPs per 14x14 RoI) and 3 iterations: a smoke
# run, not a measurement. RoI pooling size changes no parameter shape.
SMOKE = [
    "MODEL.DEVICE", "cpu",
    "DATASETS.TRAIN", "('voc_mini_train',)",
    "DATASETS.TEST", "('voc_mini_trainval',)",  # the val split lacks some classes, whose AP would be undefined
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "160",
    "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "160",
    "MODEL.RPN.PRE_NMS_TOPK_TEST", "200", "MODEL.RPN.POST_NMS_TOPK_TEST", "10",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "200", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
    "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", "7",
    "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "3", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0",
    "SOLVER.BASE_LR", "0.001", "TEST.PRECISE_BN.ENABLED", "False", "DATALOADER.NUM_WORKERS", "0",
]  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """A converted random dilo ResNet-50 (what tools/convert.py writes)."""
    folder = tmp_path_factory.mktemp("weights")
    cfg = load_config("", ["MODEL.BACKBONE.NAME", "resnet50"])
    torch.save({"model": build_model(cfg).state_dict(), "config": cfg.dump()}, folder / "checkpoint.pth")
    save_detectron2(convert(str(folder / "checkpoint.pth")), str(folder / "dilo.pkl"))
    return str(folder / "dilo.pkl")


def _args(weights: str, output: str, *opts: str, eval_only: bool = False):
    flags = ["--config-file", CONFIG, "--datasets-root", os.path.dirname(shared_data("voc-mini"))]
    flags += ["--eval-only"] if eval_only else []
    return train_net.parse_args([*flags, *SMOKE, "MODEL.WEIGHTS", weights, "OUTPUT_DIR", output, *opts])


def test_converted_weights_fill_the_whole_backbone_and_res5(weights, tmp_path):
    cfg = train_net.setup(_args(weights, str(tmp_path)))
    assert cfg.MODEL.RESNETS.NORM == "naiveSyncBN"  # plain BN in one process: nothing to swap
    model = train_net.Trainer.build_model(cfg)
    assert type(model.roi_heads).__name__ == "Res5ROIHeadsExtraNorm"
    DetectionCheckpointer(model).load(weights)
    with open(weights, "rb") as f:
        arrays = pickle.load(f)["model"]
    trunk = {
        k: v for k, v in model.state_dict().items()
        if k.startswith(("backbone.", "roi_heads.res5.")) and not k.startswith("roi_heads.res5.norm.")
    }  # fmt: skip
    assert len(trunk) == len(arrays) == 318
    for key, value in trunk.items():
        name = key.removeprefix("backbone.").removeprefix("roi_heads.")
        np.testing.assert_array_equal(value.numpy(), arrays[name], err_msg=key)


def test_a_few_iterations_then_voc_evaluation(weights, tmp_path):
    results = train_net.main(_args(weights, str(tmp_path)))
    bbox = results["bbox"]
    assert set(bbox) == {"AP", "AP50", "AP75"}
    assert all(math.isfinite(v) and 0 <= v <= 100 for v in bbox.values()), bbox
    assert bbox["AP50"] >= bbox["AP75"]
    saved = json.loads((tmp_path / "results.json").read_text())
    # SEED -1 (the default): the seed drawn for the run is recorded, as in the config.yaml it wrote
    recorded = yaml.safe_load((tmp_path / "config.yaml").read_text())["SEED"]
    assert saved["results"]["bbox"] == pytest.approx(bbox) and saved["seed"] == recorded >= 0
    assert (tmp_path / "model_final.pth").exists()
    # --eval-only evaluates the trained weights; voc_mini_val lacks 4 of the 20 classes, so only its keys are checked
    val = ["DATASETS.TEST", "('voc_mini_val',)"]
    again = train_net.main(_args(str(tmp_path / "model_final.pth"), str(tmp_path / "eval"), *val, eval_only=True))
    assert set(again["bbox"]) == {"AP", "AP50", "AP75"}
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["datasets"] == ["voc_mini_val"]


@pytest.mark.parametrize(
    ("device", "world", "norm"), [("cuda", 8, "SyncBN"), ("cuda", 1, "BN"), ("cpu", 1, "BN"), ("cpu", 2, "BN")]
)
def test_syncbn_stays_only_where_it_can_sync(device, world, norm):
    cfg = train_net.get_cfg()
    cfg.merge_from_list(["MODEL.DEVICE", device, "MODEL.RESNETS.NORM", "SyncBN", "MODEL.ROI_BOX_HEAD.NORM", "SyncBN"])
    note = train_net.single_process_norm(cfg, world)
    assert cfg.MODEL.RESNETS.NORM == cfg.MODEL.ROI_BOX_HEAD.NORM == norm
    assert (note is None) == (norm == "SyncBN")
