"""A run's record (pretrain.engine.provenance): a resume or a rerun never mixes two configurations, a start never
writes over a run, and a non-finite loss stops the run before any checkpoint holds it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from pretrain.data import dataset_roots
from pretrain.engine import Trainer, prepare_embedded
from pretrain.engine.provenance import run_record
from pretrain.utils import provenance
from tests.conftest import tiny_config, train


@pytest.fixture
def finished(embedded_cache, tmp_path):
    """A finished tiny run (2 epochs, copy-paste on RBD masks) in ``tmp_path/run``."""
    cfg = tiny_config(embedded_cache, str(tmp_path / "run"), "COPY_PASTE.PROB", "0.5", "SOLVER.EPOCHS", "1")
    prepare_embedded(cfg)  # the tool computes the set's masks on first use; here, before training
    train(cfg)
    return cfg


@pytest.mark.parametrize(
    ("opts", "named"),
    [
        (("SOLVER.IMS_PER_BATCH", "8"), "SOLVER.IMS_PER_BATCH: 16 there, 8 here"),
        (("COPY_PASTE.PROB", "0.0"), "COPY_PASTE.PROB: 0.5 there, 0.0 here"),
        (("INSTDISC.NUM_NEGATIVES", "16"), "INSTDISC.NUM_NEGATIVES: 32 there, 16 here"),
        (("DATA.EMBEDDED.MASKS", "true"), 'DATA.EMBEDDED.MASKS: "rbd" there, "true" here'),
    ],
)
def test_resume_with_other_settings_is_refused_naming_them(embedded_cache, finished, opts, named):
    """The issue's resumes: another batch (it finished the epoch with epoch_iters 0), copy-paste off, other
    negatives, other masks; each refused, the run's config.yaml and record left as they were."""
    out = finished.OUTPUT_DIR
    before = {name: Path(out, name).read_text() for name in ("config.yaml", "provenance.json")}
    cfg = tiny_config(embedded_cache, out, "COPY_PASTE.PROB", "0.5", "SOLVER.EPOCHS", "1", *opts)
    prepare_embedded(cfg)
    with pytest.raises(provenance.ProvenanceError, match=named) as e:
        train(cfg, resume=True)
    assert "--resume may change only SOLVER.EPOCHS" in str(e.value) and f"delete {out}" in str(e.value)
    assert before == {name: Path(out, name).read_text() for name in before}


def test_resume_from_another_training_root_of_as_many_images_is_refused(embedded_cache, tmp_path):
    """The issue's resume from another DATA.TRAIN_ROOT with the same image count: named, with the listing's digest."""
    source, _ = dataset_roots(tiny_config(embedded_cache, str(tmp_path / "unused")))
    shutil.copytree(source, tmp_path / "a")
    shutil.copytree(source, tmp_path / "b")
    first = sorted((tmp_path / "b").rglob("*.png"))[0]
    first.rename(first.with_name("renamed.png"))

    def folder(root: str, epochs: str):
        return tiny_config(
            embedded_cache,
            str(tmp_path / "run"),
            "DATA.SOURCE",
            "folder",
            "DATA.TRAIN_ROOT",
            root,
            "SOLVER.EPOCHS",
            epochs,
        )

    train(folder(str(tmp_path / "a"), "1"))
    with pytest.raises(
        provenance.ProvenanceError, match=r"(?s)DATA\.TRAIN_ROOT: .*/a\" there, .*/b\" here.*input\.train"
    ):
        train(folder(str(tmp_path / "b"), "2"), resume=True)


def test_resume_may_extend_a_run_and_records_its_new_length(embedded_cache, tmp_path):
    out = str(tmp_path / "run")
    train(tiny_config(embedded_cache, out, "SOLVER.EPOCHS", "1", "SOLVER.STEPS", "()"))
    _, result = train(tiny_config(embedded_cache, out, "SOLVER.EPOCHS", "2", "SOLVER.STEPS", "()"), resume=True)
    assert result["epochs"] == 2 and provenance.read(out).fields["SOLVER.EPOCHS"] == 2
    records = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "epoch_iters" in r] == [0, 1]  # both epochs' history, once each


def test_a_start_in_a_finished_runs_folder_is_refused(finished):
    """Without --resume a rerun would write over model_final.pth and add its metrics to the run's."""
    final = os.path.join(finished.OUTPUT_DIR, "model_final.pth")
    stamp, lines = os.stat(final).st_mtime_ns, Path(finished.OUTPUT_DIR, "metrics.jsonl").read_text()
    with pytest.raises(provenance.ProvenanceError, match="holds a run.*continue it with --resume"):
        train(finished)
    assert os.stat(final).st_mtime_ns == stamp
    assert Path(finished.OUTPUT_DIR, "metrics.jsonl").read_text() == lines


def test_a_folder_without_a_checkpoint_is_taken_anew(embedded_cache, tmp_path):
    """A run that failed before its first checkpoint left nothing to protect: the next start takes the folder, its
    record and its metrics anew."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
    provenance.write(str(out), provenance.Record("pretraining run", {"SEED": 5}))
    train(tiny_config(embedded_cache, str(out), "SOLVER.EPOCHS", "1"))
    assert provenance.read(str(out)).fields["SEED"] == 0
    assert '"loss": 1.0}' not in (out / "metrics.jsonl").read_text()


def test_a_checkpoint_without_a_record_is_not_resumed(finished):
    os.remove(os.path.join(finished.OUTPUT_DIR, "provenance.json"))
    path = os.path.join(finished.OUTPUT_DIR, "checkpoint_last.pth")
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["provenance"] == run_record(finished).to_json() | {"about": ckpt["provenance"]["about"]}
    train(finished, resume=True)  # the checkpoint's own record stands in for the folder's
    del ckpt["provenance"]
    torch.save(ckpt, path)
    os.remove(os.path.join(finished.OUTPUT_DIR, "provenance.json"))
    with pytest.raises(provenance.ProvenanceError, match="no record of what made it"):
        train(finished, resume=True)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_whole_epoch(embedded_cache, tmp_path):
    cfg = tiny_config(embedded_cache, str(tmp_path / "run"), "LOG.PERIOD", "20")
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.resume_or_start(False)
    run_step = trainer.run_step

    def diverging(batch, step):
        loss = run_step(batch, step)
        return loss * float("nan") if step == 5 else loss  # epoch 1, second step

    trainer.run_step = diverging
    with pytest.raises(FloatingPointError, match="loss became nan in epoch 1"):
        trainer.train()
    trainer.close()
    ckpt = torch.load(os.path.join(cfg.OUTPUT_DIR, "checkpoint_last.pth"), weights_only=True)
    assert (ckpt["epoch"], ckpt["iter"]) == (1, 0) and not os.path.exists(
        os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    )
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
