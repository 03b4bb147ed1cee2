"""INSTDISC.BANK_INIT: the bank starts as the untrained model's embeddings, and only when a run starts."""

import json

import torch

from pretrain.data import build_eval_dataset
from pretrain.engine import Trainer
from tests.conftest import train


def _trainer(tiny_cfg, *opts):
    cfg = tiny_cfg.clone()
    cfg.merge_from_list(list(opts))
    return Trainer(cfg, torch.device("cpu"))


def test_features_init_fills_every_row_with_the_models_embedding(tiny_cfg, one_thread):
    trainer = _trainer(tiny_cfg, "INSTDISC.BANK_INIT", "features")
    random_rows = trainer.criterion.bank.features.clone()
    trainer.resume_or_start(False)
    bank = trainer.criterion.bank.features
    images = build_eval_dataset(trainer.cfg, trainer.train_set.root)
    trainer.model.eval()
    with torch.no_grad():
        for i in (0, 17, len(images) - 1):
            _, expected = trainer.model.forward_with_features(images[i]["image"][None])
            torch.testing.assert_close(bank[i], expected[0], rtol=1e-4, atol=1e-5)
    assert torch.allclose(bank.norm(dim=1), torch.ones(len(bank)), atol=1e-5)  # unit rows, unlike the uniform init
    assert not torch.allclose(bank, random_rows)


def test_features_init_starts_epoch_0_without_the_climb(tiny_cfg, one_thread):
    """With random rows every positive is noise while the negatives fill with real features, so
    epoch 0's loss climbs above its first step; started from features it does not."""
    losses = {}
    for init in ("random", "features"):
        cfg = tiny_cfg.clone()
        cfg.merge_from_list(
            ["INSTDISC.BANK_INIT", init, "SOLVER.EPOCHS", "1", "OUTPUT_DIR", f"{cfg.OUTPUT_DIR}/{init}"]
        )
        train(cfg)
        with open(f"{cfg.OUTPUT_DIR}/metrics.jsonl") as f:
            losses[init] = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    assert losses["random"][-1] > losses["random"][0]
    assert losses["features"][-1] < losses["random"][-1]


def test_a_resumed_run_keeps_its_bank(tiny_cfg, one_thread):
    cfg = tiny_cfg.clone()
    cfg.merge_from_list(["INSTDISC.BANK_INIT", "features"])
    first, _ = train(cfg)
    resumed = Trainer(cfg, torch.device("cpu"))
    resumed.resume_or_start(True)
    torch.testing.assert_close(resumed.criterion.bank.features, first.criterion.bank.features, rtol=0, atol=0)
