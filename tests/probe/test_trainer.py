"""The protocol's SGD trainer on cached features: schedule, separable data, resume, bad checkpoints."""

import os

import pytest
import torch

from pretrain.engine.solver import lr_at_epoch
from pretrain.probe.defaults import get_probe_cfg
from pretrain.probe.protocol import cached_batches
from pretrain.probe.trainer import PROBE_LAST, ProbeTrainer, evaluate
from pretrain.utils.provenance import ProvenanceError, Record

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(out, *opts):
    cfg = get_probe_cfg()
    cfg.merge_from_list(["OUTPUT_DIR", str(out), "SOLVER.IMS_PER_BATCH", 100, "LOG.PERIOD", 5, *opts])
    return cfg


def _separable(n=6000, dim=16, classes=6, seed=0):
    """Gaussian points labelled by a random linear map, with a margin (so a linear layer can be exact)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, classes, generator=g)
    x = torch.randn(n, dim, generator=g)
    top = (x @ w).topk(2, dim=1).values
    x = x[top[:, 0] - top[:, 1] > 1.0]
    return {"features": x[:, None].half(), "labels": (x @ w).argmax(1)}


def _record(weights="w1", **fields):
    """A probe's record (pretrain.probe.launch.probe_record makes the real one from config, weights and data)."""
    return Record.of("linear probe", {"input.weights": weights, "input.train_images": "t1", **fields})


def _train(cfg, train, val, resume=False):
    trainer = ProbeTrainer(
        cfg, train["features"].shape[-1], int(train["labels"].max()) + 1, torch.device("cpu"), _record()
    )
    if resume:
        assert trainer.resume()
    batches, iters = cached_batches(train, cfg, torch.device("cpu"))
    result = trainer.train(batches, iters, lambda c: evaluate(c, val, torch.device("cpu")))
    return trainer, result


def _split(data, n):
    return {k: v[:n] for k, v in data.items()}, {k: v[n:] for k, v in data.items()}


def test_schedule_is_the_papers():
    cfg = get_probe_cfg()
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MOMENTUM, cfg.SOLVER.WEIGHT_DECAY, cfg.SOLVER.EPOCHS) == (
        30.0,
        0.9,
        0.0,
        100,
    )
    assert [lr_at_epoch(cfg, e) for e in (0, 29, 30, 59, 60, 90, 99)] == pytest.approx([30, 30, 3, 3, 0.3, 0.03, 0.03])
    assert lr_at_epoch(_cfg("out", "SOLVER.IMS_PER_BATCH", 64), 0) == 30.0  # the protocol's lr at any batch
    assert (cfg.INPUT.SIZE, cfg.INPUT.TEST_RESIZE, cfg.SOLVER.IMS_PER_BATCH) == (224, 256, 256)


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_linearly_separable_problem_is_solved_at_lr_30(tmp_path, norm):
    train, val = _split(_separable(), 2000)
    cfg = _cfg(tmp_path, "SOLVER.EPOCHS", 12, "SOLVER.STEPS", "(6, 9)", "MODEL.FEATURE_NORM", norm)
    trainer, result = _train(cfg, train, val)
    assert evaluate(trainer.classifier, train, torch.device("cpu"))["top1"] >= 99.5
    assert result["top1"] >= 99.5


def test_resume_gives_the_uninterrupted_result(tmp_path):
    train, val = _split(_separable(seed=1), 1000)
    opts = ["SOLVER.EPOCHS", 6, "SOLVER.STEPS", "(3,)", "SOLVER.BASE_LR", 1.0, "TEST.PERIOD", 0]
    straight, _ = _train(_cfg(tmp_path / "a", *opts), train, val)
    _train(_cfg(tmp_path / "b", *opts[:1], 4, *opts[2:]), train, val)  # stopped after 4 of 6 epochs
    resumed, _ = _train(_cfg(tmp_path / "b", *opts), train, val, resume=True)
    assert resumed.start_epoch == 4
    for key, value in straight.classifier.state_dict().items():
        assert torch.equal(value, resumed.classifier.state_dict()[key]), key
    assert torch.load(tmp_path / "b" / PROBE_LAST, weights_only=True)["epoch"] == 6


def test_bad_checkpoints_are_refused_by_name(tmp_path):
    cfg = _cfg(tmp_path, "SOLVER.EPOCHS", 1)
    trainer = ProbeTrainer(cfg, 8, 3, torch.device("cpu"), _record())
    path = os.path.join(tmp_path, PROBE_LAST)
    with open(path, "wb") as f:
        f.write(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match=f"probe checkpoint '{path}' is corrupt"):
        trainer.resume()
    torch.save({"model": {}}, path)  # a pretraining checkpoint is not a probe checkpoint
    with pytest.raises(ValueError, match="not a linear-probe checkpoint"):
        trainer.resume()
    trainer.save(1)
    with pytest.raises(ValueError, match='input.weights: "w1" there, "w2" here'):  # another backbone
        ProbeTrainer(cfg, 8, 3, torch.device("cpu"), _record("w2")).resume()
    with pytest.raises(ValueError, match="does not fit this probe"):
        ProbeTrainer(cfg, 16, 3, torch.device("cpu"), _record()).resume()


def test_resume_with_other_data_or_learning_rate_is_refused_and_epochs_may_grow(tmp_path):
    """The issue's probe --resume with another training root and learning rate was accepted."""
    cfg = _cfg(tmp_path, "SOLVER.EPOCHS", 1)
    ProbeTrainer(cfg, 8, 3, torch.device("cpu"), _record(**{"SOLVER.BASE_LR": 30.0})).save(1)
    other = _record(**{"SOLVER.BASE_LR": 0.1, "input.train_images": "t2"})
    with pytest.raises(ProvenanceError, match=r'(?s)SOLVER.BASE_LR: 30.0 there, 0.1 here.*input.train_images: "t1"'):
        ProbeTrainer(cfg, 8, 3, torch.device("cpu"), other).resume()
    longer = _record(**{"SOLVER.BASE_LR": 30.0, "SOLVER.EPOCHS": 9})
    assert ProbeTrainer(_cfg(tmp_path, "SOLVER.EPOCHS", 9), 8, 3, torch.device("cpu"), longer).resume()
    legacy = torch.load(os.path.join(tmp_path, PROBE_LAST), weights_only=True)
    del legacy["provenance"]
    torch.save(legacy, os.path.join(tmp_path, PROBE_LAST))
    with pytest.raises(ProvenanceError, match="no record of what made it"):
        ProbeTrainer(cfg, 8, 3, torch.device("cpu"), _record()).resume()


def test_ten_crop_evaluation_averages_softmax_over_crops():
    fc = torch.nn.Linear(2, 2, bias=False)
    fc.weight.data = torch.eye(2) * 10
    # crop 0 says class 1 firmly, crops 1-2 say class 0 weakly: averaging probabilities picks 0
    feats = torch.tensor([[[0.0, 1.0], [0.06, 0.0], [0.06, 0.0]]])
    assert evaluate(fc, {"features": feats, "labels": torch.tensor([1])}, torch.device("cpu"))["top1"] == 100.0
    assert evaluate(fc, {"features": feats[:, 1:], "labels": torch.tensor([0])}, torch.device("cpu"))["top1"] == 100.0
