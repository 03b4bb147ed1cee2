"""MoCo v2 through the shared engine: training, checkpoints, exact resume, the kNN monitor; and
InstDisc unchanged by the method registry."""

import json
import os

import pytest
import torch

from pretrain.config import load_config
from pretrain.engine import Trainer
from pretrain.instdisc import InstanceDiscrimination
from tests.conftest import tiny_config, train

MOCO = ["MODEL.METHOD", "moco_v2", "MODEL.HEAD", "mlp", "MOCO.QUEUE_SIZE", "32", "MOCO.BN_GROUPS", "2"]
MOCO_AUGMENT = ["INPUT.COLOR_JITTER_PROB", "0.8", "INPUT.BLUR_PROB", "0.5", "SOLVER.SCHEDULE", "cosine"]


def moco_config(cache: str, out: str, *opts: str):
    return tiny_config(cache, out, *MOCO, *MOCO_AUGMENT, *opts)


@pytest.mark.parametrize("backend", ["cpu", "resident"])
def test_instdisc_steps_are_what_they_were_before_the_registry(embedded_cache, tmp_path, backend):
    """The registry's instdisc equals the code it replaced (the trainer's step before MODEL.METHOD), bit for bit."""
    opts = ["INPUT.BACKEND", backend, "COPY_PASTE.PROB", "0.5", "DATA.EMBEDDED.MASKS", "true"]
    cfg = tiny_config(embedded_cache, str(tmp_path), *opts)
    new, old = Trainer(cfg, torch.device("cpu")), Trainer(cfg, torch.device("cpu"))
    assert type(new.criterion).__mro__[1] is InstanceDiscrimination
    for trainer in (new, old):
        trainer.sampler.set_epoch(0, 0)
        trainer.train_set.set_epoch(0)
    for step, (a, b) in enumerate(zip(new.loader, old.loader, strict=True)):
        if step == 3:
            break
        new_loss = new.run_step(a, step)
        # the step as the trainer wrote it before the registry
        old_loss = InstanceDiscrimination.forward(old.criterion, old.model(b["image"]), b["index"], step)
        old.optimizer.zero_grad(set_to_none=True)
        old_loss.backward()
        old.optimizer.step()
        assert torch.equal(new_loss, old_loss.detach())
    assert torch.equal(new.criterion.bank.features, old.criterion.bank.features)
    for (name, a), b in zip(new.model.state_dict().items(), old.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_moco_trains_saves_its_state_and_is_monitored(embedded_cache, tmp_path):
    trainer, result = train(moco_config(embedded_cache, str(tmp_path)))
    assert result["epochs"] == 2 and 0 <= result["knn_top1"] <= 100
    assert trainer.train_set.views == 2
    ckpt = torch.load(os.path.join(tmp_path, "checkpoint_last.pth"), weights_only=True)
    assert "bank" not in ckpt
    assert torch.equal(ckpt["criterion"]["queue.keys"], trainer.criterion.queue.keys)
    assert int(ckpt["criterion"]["queue.pointer"]) == (8 * 16) % 32  # 8 steps of 16 keys into 32 rows
    assert any(k.startswith("key_encoder.head.2.") for k in ckpt["criterion"])  # MoCo v2's MLP
    assert set(ckpt["model"]) == set(trainer.model.state_dict())  # the query encoder: what transfers
    key_encoder = trainer.criterion.key_encoder.state_dict()
    assert not all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in key_encoder.items())
    with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
        logged = [json.loads(line) for line in f if '"loss"' in line]
    assert logged and all(-1 <= r[k] <= 1 for r in logged for k in ("moco_positive", "moco_batch", "moco_queue"))


@pytest.mark.parametrize("stop_at_step", [2, 4])  # mid-epoch, and right at an epoch boundary
def test_moco_sigterm_then_resume_equals_an_uninterrupted_run(embedded_cache, tmp_path, stop_at_step):
    whole, _ = train(moco_config(embedded_cache, str(tmp_path / "whole")))
    cfg = moco_config(embedded_cache, str(tmp_path / "split"))
    _, first = train(cfg, stop_at_step=stop_at_step)
    assert first["interrupted"]
    resumed, _ = train(cfg, resume=True)
    for module in ("model", "criterion"):  # query encoder; key encoder, queue and its pointer
        a, b = getattr(whole, module).state_dict(), getattr(resumed, module).state_dict()
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), (module, name)


def test_a_checkpoint_of_the_other_method_is_refused(embedded_cache, tmp_path):
    train(tiny_config(embedded_cache, str(tmp_path), "SOLVER.EPOCHS", "1"))
    with pytest.raises(ValueError, match="MODEL.METHOD"):
        train(moco_config(embedded_cache, str(tmp_path), "MODEL.HEAD", "linear"), resume=True)


def test_two_views_on_the_gpu_backend_are_refused_at_config_load():
    with pytest.raises(ValueError, match=r"MODEL.METHOD moco_v2 needs INPUT.BACKEND in \('cpu', 'resident'\)"):
        load_config("", ["MODEL.METHOD", "moco_v2", "INPUT.BACKEND", "gpu"])


def test_queue_must_take_whole_batches(embedded_cache, tmp_path):
    with pytest.raises(ValueError, match="MOCO.QUEUE_SIZE 40 must be a multiple of SOLVER.IMS_PER_BATCH 16"):
        Trainer(moco_config(embedded_cache, str(tmp_path), "MOCO.QUEUE_SIZE", "40"), torch.device("cpu"))
