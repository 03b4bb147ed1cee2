"""Training-step throughput on synthetic input: what each method's loss and its state (InstDisc's memory
bank, MoCo's key encoder and queue) cost over a plain step of the same network (forward, backward and
SGD update), with each setting's peak device memory.

Each method's step is its own :meth:`~pretrain.engine.method.Method.step_loss`, the call the trainer makes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.benchmark.loader import synchronize
from pretrain.config import get_cfg
from pretrain.engine.method import Method, method_class
from pretrain.models import build_model

NEGATIVES = (4096, 65536)  # the paper's K and a large one
MODES = ("per-sample", "shared")
MOCO_QUEUE = 65536  # MoCo v2's K

Loss = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (images, indices, step) -> loss


@dataclass(frozen=True)
class StepSetup:
    """What every measured step shares: the network, the input and the numerics."""

    backbone: str = "resnet50"
    batch: int = 256
    size: int = 224
    iters: int = 20
    warmup: int = 5
    bank_size: int = 1_281_167  # N: ImageNet-1k's training set
    amp: bool = False  # bf16 autocast
    channels_last: bool = False
    moco: bool = True  # also a MoCo v2 step (a queue of about MOCO_QUEUE keys, MLP head)
    negatives: tuple[int, ...] = NEGATIVES


@dataclass(frozen=True)
class StepRate:
    images_per_s: float
    peak_bytes: int | None  # torch.cuda.max_memory_allocated over the timed steps; None on the CPU


def step_rate(model: nn.Module, loss: Loss, setup: StepSetup, device: torch.device) -> StepRate:
    """Images/s of ``loss`` + backward + SGD step after ``setup.warmup`` untimed steps, and the peak memory."""
    fmt = torch.channels_last if setup.channels_last else torch.contiguous_format
    x = torch.randn(setup.batch, 3, setup.size, setup.size, device=device).to(memory_format=fmt)
    idx = torch.randint(setup.bank_size, (setup.batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(setup.warmup + setup.iters):
        if i == setup.warmup:
            synchronize(device)
            tic = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss(x, idx, i).backward()
        opt.step()
    synchronize(device)
    rate = setup.batch * setup.iters / (time.perf_counter() - tic)
    return StepRate(rate, torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None)


def _autocast(setup: StepSetup, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=setup.amp)


def plain_loss(model: nn.Module, setup: StepSetup, device: torch.device) -> Loss:
    """A trivial loss on the network's embedding: the step without any method's cost."""
    autocast = _autocast(setup, device)

    def loss(x: torch.Tensor, idx: torch.Tensor, step: int) -> torch.Tensor:
        with autocast():
            emb = model(x)
        return F.normalize(emb.float(), dim=1).sum()

    return loss


def method_loss(method: Method, model: nn.Module, setup: StepSetup, device: torch.device) -> Loss:
    """``method``'s training loss as the trainer computes it; a second view is the flipped image."""
    autocast = _autocast(setup, device)

    def loss(x: torch.Tensor, idx: torch.Tensor, step: int) -> torch.Tensor:
        views = [x, x.flip(3)][: method.views]
        return method.step_loss(model, model, views, idx, step, autocast)

    return loss


def settings(setup: StepSetup) -> list[tuple[str, list[str]]]:
    """(name, config overrides) of each measured step: the plain one, InstDisc at each K and mode, MoCo v2."""
    out = [("plain", [])]
    for k in setup.negatives:
        for mode in MODES:
            shared = str(mode == "shared")
            out.append((f"K={k} {mode}", ["INSTDISC.NUM_NEGATIVES", str(k), "INSTDISC.SHARED_NEGATIVES", shared]))
    if setup.moco:
        queue = max(setup.batch, MOCO_QUEUE // setup.batch * setup.batch)
        moco = ["MODEL.METHOD", "moco_v2", "MODEL.HEAD", "mlp", "MOCO.QUEUE_SIZE", str(queue)]
        out.append((f"MoCo v2 K={queue}", moco))
    return out


def measure(setup: StepSetup, device: torch.device) -> Iterator[dict]:
    """One row per setting (:func:`settings`), as measured; ``relative`` is images/s over the plain step's."""
    fmt = torch.channels_last if setup.channels_last else torch.contiguous_format
    plain = None
    models: dict[str, nn.Module] = {}  # by MODEL.HEAD: MoCo v2 has an MLP head
    for name, opts in settings(setup):
        cfg = get_cfg()
        cfg.merge_from_list(["MODEL.BACKBONE.NAME", setup.backbone, "SOLVER.IMS_PER_BATCH", str(setup.batch), *opts])
        if cfg.MODEL.HEAD not in models:
            models[cfg.MODEL.HEAD] = build_model(cfg).to(device, memory_format=fmt)
        model = models[cfg.MODEL.HEAD]
        if plain is None:  # an untimed pass: the first setting must not pay for allocator and thread start-up
            step_rate(model, plain_loss(model, setup, device), replace(setup, iters=1), device)
        if opts:
            method = method_class(cfg.MODEL.METHOD).from_config(cfg, model, setup.bank_size, device)
            loss = method_loss(method, model, setup, device)
        else:
            method, loss = None, plain_loss(model, setup, device)
        measured = step_rate(model, loss, setup, device)
        del method, loss
        plain = plain or measured.images_per_s
        yield {
            "setting": name,
            "images_per_s": round(measured.images_per_s, 1),
            "relative": round(measured.images_per_s / plain, 3),
            "peak_memory_mb": None if measured.peak_bytes is None else round(measured.peak_bytes / 2**20),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            "backbone": setup.backbone,
            "batch": setup.batch,
            "size": setup.size,
            "amp_bf16": setup.amp,
            "channels_last": setup.channels_last,
        }


def format_table(rows: list[dict]) -> str:
    lines = [f"{'setting':<22}{'images/s':>10}{'relative':>10}{'peak MB':>10}"]
    for r in rows:
        peak = "-" if r["peak_memory_mb"] is None else str(r["peak_memory_mb"])
        lines.append(f"{r['setting']:<22}{r['images_per_s']:>10.1f}{r['relative']:>10.3f}{peak:>10}")
    return "\n".join(lines)
