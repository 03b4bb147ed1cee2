import json
import os
from pathlib import Path

import pytest
import torch

from pretrain.engine import last_checkpoint
from tests.conftest import tiny_config, train


def test_run_writes_checkpoints_and_metrics(tiny_cfg):
    trainer, result = train(tiny_cfg)
    out = tiny_cfg.OUTPUT_DIR
    assert result["epochs"] == 2 and "knn_top1" in result
    assert sorted(f for f in os.listdir(out) if f.endswith(".pth")) == ["checkpoint_last.pth", "model_final.pth"]
    records = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    assert sum("loss" in r for r in records) == 8  # 64 images / 16 = 4 steps x 2 epochs
    assert sum("knn_top1" in r for r in records) >= 2
    ckpt = torch.load(os.path.join(out, "checkpoint_last.pth"), weights_only=True)
    assert (ckpt["epoch"], ckpt["iter"]) == (2, 0)
    assert torch.equal(ckpt["bank"]["features"], trainer.criterion.bank.features)
    assert {"model", "optimizer", "bank", "rng", "config"} <= set(ckpt)


@pytest.mark.parametrize("stop_at_step", [2, 4])  # mid-epoch, and right at an epoch boundary
def test_sigterm_then_resume_equals_an_uninterrupted_run(embedded_cache, tmp_path, stop_at_step):
    whole, _ = train(tiny_config(embedded_cache, str(tmp_path / "whole")))
    cfg = tiny_config(embedded_cache, str(tmp_path / "split"))
    _, first = train(cfg, stop_at_step=stop_at_step)
    assert first["interrupted"]
    ckpt = torch.load(last_checkpoint(cfg.OUTPUT_DIR), weights_only=True)
    assert ckpt["epoch"] * 4 + ckpt["iter"] == stop_at_step + 1
    resumed, _ = train(cfg, resume=True)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(whole.criterion.bank.features, resumed.criterion.bank.features)
    assert whole.optimizer.state_dict()["state"][0]["momentum_buffer"].equal(
        resumed.optimizer.state_dict()["state"][0]["momentum_buffer"]
    )


def test_resume_refuses_a_checkpoint_of_another_architecture(embedded_cache, tmp_path):
    train(tiny_config(embedded_cache, str(tmp_path)))
    with pytest.raises(ValueError, match="does not fit MODEL"):
        train(tiny_config(embedded_cache, str(tmp_path), "MODEL.BACKBONE.WIDTH", "0.25"), resume=True)


def test_nce_loss_and_shared_negativestrain(embedded_cache, tmp_path):
    cfg = tiny_config(embedded_cache, str(tmp_path), "INSTDISC.LOSS", "nce", "INSTDISC.SHARED_NEGATIVES", "True")
    trainer, result = train(cfg)
    assert trainer.criterion.nce_z > 0 and result["epochs"] == 2


def test_bf16_autocast_and_channels_last_run_on_the_cpu(embedded_cache, tmp_path):
    cfg = tiny_config(
        embedded_cache, str(tmp_path), "SOLVER.AMP.ENABLED", "True", "MODEL.CHANNELS_LAST", "True", "SOLVER.EPOCHS", "1"
    )
    trainer, result = train(cfg)
    assert result["epochs"] == 1
    assert trainer.criterion.bank.features.dtype == torch.float32  # the bank stays full precision
    assert torch.isfinite(next(trainer.model.parameters())).all()


def test_a_missing_validation_folder_names_data_val_root(embedded_cache, tmp_path):
    cfg = tiny_config(embedded_cache, str(tmp_path), "DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", str(tmp_path))
    cfg.defrost()
    cfg.DATA.VAL_ROOT = str(tmp_path / "no_val")
    with pytest.raises(FileNotFoundError, match=r"no_val' does not exist \(DATA.VAL_ROOT\).*DATA.VAL_ROOT ''"):
        train(cfg)


def test_copy_paste_outcomes_are_counted_per_epoch(embedded_cache, tmp_path):
    """At p 1 every sample is pasted, has an empty or no mask, or its crop misses the object: the four add up."""
    opts = ("COPY_PASTE.PROB", "1.0", "DATA.EMBEDDED.MASKS", "true", "INPUT.CROP_SCALE", "(0.08, 0.1)")
    cfg = tiny_config(embedded_cache, str(tmp_path), *opts, "SOLVER.EPOCHS", "1", "TEST.KNN_PERIOD", "0")
    train(cfg)
    records = [json.loads(line) for line in Path(cfg.OUTPUT_DIR, "metrics.jsonl").read_text().splitlines()]
    (epoch,) = [r for r in records if "epoch_iters" in r]
    outcomes = ("pasted", "empty_mask", "missing_mask", "crop_without_foreground")
    assert sum(epoch[key] for key in outcomes) == 64 and epoch["crop_without_foreground"] > 0
