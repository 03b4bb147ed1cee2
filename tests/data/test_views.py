"""Two views per image (MoCo) on the cpu and resident backends: the same plans, view by view."""

import torch

from pretrain.config import load_config
from pretrain.data import build_train_batches, build_train_dataset, dataset_roots
from tests.conftest import tiny_config

from .test_fast_augment import LEVEL

MOCO_AUGMENT = ("COPY_PASTE.PROB", "0.5", "INPUT.COLOR_JITTER_PROB", "0.8", "INPUT.BLUR_PROB", "0.5")


def test_both_backends_give_each_view_its_own_plan(embedded_cache, tmp_path):
    cfg = tiny_config(embedded_cache, str(tmp_path), "DATA.EMBEDDED.MASKS", "true", *MOCO_AUGMENT)
    root = dataset_roots(cfg)[0]
    ref = build_train_dataset(cfg, root, views=2)
    resident_cfg = tiny_config(
        embedded_cache, str(tmp_path), "DATA.EMBEDDED.MASKS", "true", *MOCO_AUGMENT, "INPUT.BACKEND", "resident"
    )
    loader, _ = build_train_batches(resident_cfg, build_train_dataset(resident_cfg, root, views=2), torch.device("cpu"))
    ref.set_epoch(1)
    loader.dataset.set_epoch(1)
    slots = list(range(0, 64, 2))
    out = loader.batch(torch.tensor(slots))
    std = torch.tensor(load_config("", []).INPUT.STD).view(3, 1, 1)
    pasted = 0
    for k, i in enumerate(slots):
        sample = ref[i]
        plans = [ref.plan(i, (32, 32), view) for view in (0, 1)]
        # counts sum over the views; a pasted coin counts unless the crop misses the foreground
        assert sample["pasted"] == int(out["pasted"][k]) <= sum(p.coin.name == "PASTED" for p in plans)
        pasted += sample["pasted"]
        for key in ("image", "image1"):
            assert float(((out[key][k] - sample[key]) * std).abs().mean() / LEVEL) < 4.0, (i, key)
        assert float(((sample["image"] - sample["image1"]) * std).abs().mean() / LEVEL) > 4.0  # two views differ
    assert 0 < pasted < 2 * len(slots)
