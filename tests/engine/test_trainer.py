import json
import logging
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from pretrain.engine import Trainer, last_checkpoint
from tests.conftest import shared_data, tiny_config, train


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
    with pytest.raises(ValueError, match=r"MODEL\.BACKBONE\.WIDTH: 0\.125 there, 0\.25 here"):
        train(tiny_config(embedded_cache, str(tmp_path), "MODEL.BACKBONE.WIDTH", "0.25"), resume=True)


def test_nce_loss_and_shared_negatives_train(embedded_cache, tmp_path):
    cfg = tiny_config(embedded_cache, str(tmp_path), "INSTDISC.LOSS", "nce", "INSTDISC.SHARED_NEGATIVES", "True")
    trainer, result = train(cfg)
    crit = trainer.criterion
    assert crit.nce_z > 0 and result["epochs"] == 2
    assert crit.sample_negatives(8, step=3).shape == (crit.num_negatives,)  # one draw for the whole batch
    # every sample is scored against the same rows: two samples' similarities to the negatives agree
    # wherever their features agree
    f = torch.nn.functional.normalize(torch.randn(1, crit.bank.features.shape[1]), dim=1).expand(2, -1)
    _, neg = crit.similarities(f, torch.tensor([0, 1]), step=3)
    torch.testing.assert_close(neg[0], neg[1])


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


@pytest.fixture
def folder_with_bad_files(tmp_path) -> str:
    """12 real photos in root/a, the first three broken: truncated, empty, text."""
    root = tmp_path / "images" / "a"
    root.mkdir(parents=True)
    photos = shared_data("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
    for k, name in enumerate(sorted(os.listdir(photos))[:12]):
        Image.open(os.path.join(photos, name)).convert("RGB").resize((48, 40)).save(root / f"{k:02d}.jpg")
    data = (root / "00.jpg").read_bytes()
    (root / "00.jpg").write_bytes(data[: len(data) // 3])
    (root / "01.jpg").write_bytes(b"")
    (root / "02.jpg").write_text("not a picture\n")
    return str(root.parent)


def _bad_run(embedded_cache: str, root: str, out: str, *opts: str):
    cfg = tiny_config(
        embedded_cache, out, "DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", root, "DATA.SKIP_BAD_IMAGES", "True",
        "SOLVER.IMS_PER_BATCH", "4", "TEST.LINEAR_PROBE", "False", *opts,
    )  # fmt: skip
    seen: list[list[int]] = []
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("pretrain").addHandler(handler)
    try:
        trainer = Trainer(cfg, torch.device("cpu"))
        trainer.resume_or_start(False)
        run_step = trainer.run_step
        trainer.run_step = lambda batch, step: seen.append(batch["index"].tolist()) or run_step(batch, step)
        trainer.train()
        trainer.close()
    finally:
        logging.getLogger("pretrain").removeHandler(handler)
    return cfg, trainer, seen, "\n".join(messages)


def test_bad_files_counted_named_once_no_step_repeats_an_index(embedded_cache, folder_with_bad_files, tmp_path):
    cfg, _, seen, log = _bad_run(embedded_cache, folder_with_bad_files, str(tmp_path / "out"))
    assert len(seen) == 6 and all(len(set(step)) == 4 for step in seen)  # 3 steps x 2 epochs, no index twice
    assert not {0, 1, 2} & {i for step in seen for i in step}  # the broken files never reach the bank
    records = [json.loads(line) for line in Path(cfg.OUTPUT_DIR, "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "epoch_iters" in r]
    assert [r["num_bad"] for r in epochs] == [3, 3]  # distinct files, not attempts
    bad = [os.path.join(folder_with_bad_files, "a", f"0{k}.jpg") for k in range(3)]
    assert epochs[0]["bad_images"] == bad and "bad_images" not in epochs[1]  # each named once per run
    assert all(log.count(name) == 1 for name in bad)


def test_replacements_do_not_depend_on_the_number_of_workers(embedded_cache, folder_with_bad_files, tmp_path):
    runs = [
        _bad_run(embedded_cache, folder_with_bad_files, str(tmp_path / str(w)), "DATA.NUM_WORKERS", str(w))
        for w in (0, 2)
    ]
    (_, a, seen_a, _), (_, b, seen_b, _) = runs
    assert seen_a == seen_b
    assert torch.equal(a.criterion.bank.features, b.criterion.bank.features)
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
