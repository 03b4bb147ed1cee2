"""The loader benchmark's library: layout, timed passes per core, overheads, the stage breakdown."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pretrain.benchmark import loader as bench
from pretrain.config import load_config
from pretrain.data import build_train_batches, build_train_dataset
from tests.conftest import shared_data

VOC = ("voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    """8 VOC photos as a flat folder, and their elliptical masks bounded to 128 px (as --mask-size 128)."""
    src = shared_data(*VOC)
    root = tmp_path_factory.mktemp("voc")
    os.makedirs(root / "flat")
    os.makedirs(root / "masks" / "photos")
    for name in sorted(os.listdir(src))[:8]:
        with Image.open(os.path.join(src, name)) as img:
            img.save(root / "flat" / name)
            mask = np.zeros((img.height, img.width), np.uint8)
        cv2.ellipse(mask, (img.width // 2, img.height // 2), (img.width // 4, img.height // 3), 0, 0, 360, 255, -1)
        scale = 128 / max(img.size)
        small = cv2.resize(mask, (round(img.width * scale), round(img.height * scale)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / "masks" / "photos" / (name[:-4] + ".png")), small)
    return root


def _fast(voc, prob, workers=0):
    cfg = load_config("", ["INPUT.BACKEND", "gpu", "COPY_PASTE.PROB", prob, "COPY_PASTE.MASK_ROOT", str(voc / "masks"),
                           "SOLVER.IMS_PER_BATCH", "4", "DATA.NUM_WORKERS", str(workers)])  # fmt: skip
    return cfg, build_train_dataset(cfg, bench.instance_layout(str(voc / "flat"), str(voc / "images")))


def test_a_flat_folder_becomes_one_class_of_links(voc):
    root = bench.instance_layout(str(voc / "flat"), str(voc / "images"))
    assert os.listdir(root) == ["photos"] and len(os.listdir(voc / "images" / "photos")) == 8
    assert os.path.realpath(voc / "images" / "photos" / sorted(os.listdir(voc / "flat"))[0]).startswith(str(voc))
    assert bench.instance_layout(root, "elsewhere") == root  # already ImageNet-layout: used as it is


@pytest.mark.parametrize("workers", [0, 1])
def test_timed_passes_count_the_loaders_cpu(voc, workers):
    """Images per CPU second of the loading thread (in this process) or of the worker processes: positive,
    and not below the wall-clock rate by more than the workers' count allows."""
    cfg, ds = _fast(voc, "1.0", workers)
    batches, sampler = build_train_batches(cfg, ds, None)
    loader = bench.worker_half(batches)
    assert loader is batches.loader and loader.num_workers == workers  # the workers, not the device half
    result = bench.pass_of([bench.timed_epoch(loader, sampler, 0, 0)])
    assert result.pasted == 1.0 and result.images_per_s > 0
    tick = 1 / os.sysconf("SC_CLK_TCK")  # worker CPU time is counted in clock ticks: allow two
    cpu_s, wall_s = 8 / result.images_per_cpu_s, 8 / result.images_per_s
    assert cpu_s <= wall_s * max(1, workers) / 0.9 + 2 * tick


def test_a_busy_child_that_is_not_a_worker_is_not_counted(voc):
    """A child process of the timing process's own (a test runner's, a shell's) spins through the pass:
    the workers' CPU alone is counted, so the per-core rate stays near the wall-clock one."""
    cfg, ds = _fast(voc, "1.0", 1)
    batches, sampler = build_train_batches(cfg, ds, None)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        while bench.children_cpu_seconds().get(busy.pid, 0) < 0.2:  # it has spent CPU before the pass
            pass
        result = bench.pass_of([bench.timed_epoch(bench.worker_half(batches), sampler, 0, 0)])
    finally:
        busy.kill()
        busy.wait()
    assert 8 / result.images_per_cpu_s < 0.2 + 8 / result.images_per_s


def test_a_pass_of_several_epochs_times_each_after_its_warm_up(voc):
    """8 photos in batches of 4, one warm-up batch per epoch: 5 timed batches take 5 epochs, every image
    pasted; an epoch with nothing after its warm-up is refused."""
    cfg, ds = _fast(voc, "1.0")
    batches, sampler = build_train_batches(cfg, ds, None)
    loader = bench.worker_half(batches)
    assert bench.epochs_per_pass(loader, 1, 20) == 5 and bench.epochs_per_pass(loader, 1, 21) == 6
    result = bench.pass_of([bench.timed_epoch(loader, sampler, epoch, 1) for epoch in range(3, 8)])
    assert result.pasted == 1.0 and ds.epoch == 7
    with pytest.raises(ValueError, match="leaves none to time after 2 warm-up batches"):
        bench.timed_epoch(loader, sampler, 0, 2)


def test_the_device_half_is_timed_on_the_workers_batches(voc):
    """The device half (copy-paste, colours) of pasted samples on the CPU: a rate, and the counts settled."""
    cfg, ds = _fast(voc, "1.0")
    batches, _ = build_train_batches(cfg, ds, torch.device("cpu"))
    assert bench.device_rate(batches, torch.device("cpu"), batches=2) > 0
    batch = next(iter(batches))
    assert batch["image"].dtype == torch.float32 and int(batch["pasted"].sum()) == 4


def test_overheads_by_best_and_median_pass():
    runs = {"0": [(100, 200), (80, 150), (90, 190)], "0.5": [(95, 180), (60, 140), (85, 170)]}  # (wall, per core)
    rows = [bench.Row("gpu", bench.parse_setting(p), [bench.Pass(w, c, 0.0) for w, c in r]) for p, r in runs.items()]
    summaries = [r.summary() for r in rows]
    bench.add_overheads(summaries)
    paste = summaries[1]
    assert paste["setting"] == "p 0.5 gray none"
    assert paste["overhead_best"] == pytest.approx(0.05) and paste["overhead_median"] == pytest.approx(1 - 85 / 90)
    assert paste["overhead_per_core"] == pytest.approx(0.1) and paste["overhead_median_per_core"] == pytest.approx(
        1 - 170 / 190
    )
    assert summaries[0]["overhead_best"] == 0
    losses = [1 - 180 / 200, 1 - 140 / 150, 1 - 170 / 190]  # per core, pass by pass
    mean = sum(losses) / 3
    half = 4.302653 * (sum((x - mean) ** 2 for x in losses) / 2) ** 0.5 / 3**0.5  # t(2), 95 %
    assert paste["overhead_paired_per_core"] == pytest.approx([mean, mean - half, mean + half])


def test_the_stage_breakdown_times_the_worker_half(voc):
    """Every stage of a sample to paste is timed, the stages add up, and nothing of copy-paste runs at p 0."""
    _, pasted = _fast(voc, "1.0")
    (stages,) = bench.stage_breakdowns([pasted], batch=4)
    assert stages["pasted"] == 1.0
    assert all(stages[s] > 0 for s in bench.STAGES)
    assert stages["total"] == pytest.approx(sum(stages[s] for s in bench.STAGES))
    _, plain = _fast(voc, "0.0")
    (stages,) = bench.stage_breakdowns([plain], batch=4)
    assert stages["pasted"] == 0 and stages["mask window"] == 0


def test_breakdowns_of_several_settings_take_their_epochs_in_turn(voc, monkeypatch):
    """p 0 and p 1 through epochs 0 and 1 as 0: p 0, 0: p 1, 1: p 0, 1: p 1 (a slow spell hits both alike)."""
    _, plain = _fast(voc, "0.0")
    _, pasted = _fast(voc, "1.0")
    order = []
    for name, ds in (("p0", plain), ("p1", pasted)):
        monkeypatch.setattr(ds, "set_epoch", lambda e, name=name, ds=ds: order.append((e, name)))
    stages = bench.stage_breakdowns([plain, pasted], batch=4, epochs=2)
    assert order == [(0, "p0"), (0, "p1"), (1, "p0"), (1, "p1")]
    assert [s["pasted"] for s in stages] == [0.0, 1.0]


def test_passes_take_the_settings_epochs_in_turn(voc, monkeypatch):
    """Two passes of two epochs, p 0 and p 1: epoch 0 of each, epoch 1 of each, ... and pass r of both goes through
    epochs 2r and 2r + 1."""
    loaders, rows, order = [], [], []
    for prob in ("0.0", "1.0"):
        cfg, ds = _fast(voc, prob)
        batches, sampler = build_train_batches(cfg, ds, None)
        monkeypatch.setattr(ds, "set_epoch", lambda e, prob=prob: order.append((e, prob)))
        loaders.append((bench.worker_half(batches), sampler))
        rows.append(bench.Row("gpu", bench.parse_setting(prob)))
    bench.interleaved(loaders, rows, repeats=2, warmup=1, epochs=2)
    assert order == [(e, p) for e in range(4) for p in ("0.0", "1.0")]
    assert [len(r.passes) for r in rows] == [2, 2] and [p.pasted for p in rows[1].passes] == [1.0, 1.0]
