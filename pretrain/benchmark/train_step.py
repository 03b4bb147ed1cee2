"""Training-step throughput on synthetic input: what the instance-discrimination loss and its memory bank
cost over a plain step of the same network (forward, backward and SGD update)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.benchmark.loader import synchronize
from pretrain.config import get_cfg
from pretrain.instdisc import InstanceDiscrimination, MemoryBank
from pretrain.models import build_model

NEGATIVES = (4096, 65536)  # the paper's K and a large one
MODES = ("per-sample", "shared")


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


def step_rate(model: nn.Module, criterion: InstanceDiscrimination | None, setup: StepSetup, device) -> float:
    """Images/s of forward + loss + backward + SGD step after ``setup.warmup`` untimed steps; a plain step
    (``criterion`` None) stands in a trivial loss on the same embedding."""
    fmt = torch.channels_last if setup.channels_last else torch.contiguous_format
    x = torch.randn(setup.batch, 3, setup.size, setup.size, device=device).to(memory_format=fmt)
    idx = torch.randint(len(criterion.bank) if criterion else 1, (setup.batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for i in range(setup.warmup + setup.iters):
        if i == setup.warmup:
            synchronize(device)
            tic = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=setup.amp):
            emb = model(x)
        loss = criterion(emb, idx, i) if criterion else F.normalize(emb.float(), dim=1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return setup.batch * setup.iters / (time.perf_counter() - tic)


def measure(setup: StepSetup, device: torch.device) -> Iterator[dict]:
    """One row per setting, as measured: the plain step, then each K in :data:`NEGATIVES` with each of
    :data:`MODES` of drawing negatives; ``relative`` is images/s over the plain step's."""
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = setup.backbone
    fmt = torch.channels_last if setup.channels_last else torch.contiguous_format
    model = build_model(cfg).to(device, memory_format=fmt)
    bank = MemoryBank(setup.bank_size, cfg.MODEL.EMBED_DIM, device=device)
    # One untimed pass first: the first measured setting must not pay for allocator and thread start-up.
    step_rate(model, None, replace(setup, iters=1), device)
    settings = [("plain", None, None)] + [(f"K={k} {mode}", k, mode) for k in NEGATIVES for mode in MODES]
    plain = None
    for name, k, mode in settings:
        criterion = InstanceDiscrimination(bank, k, shared_negatives=mode == "shared") if k else None
        rate = step_rate(model, criterion, setup, device)
        plain = plain or rate
        yield {
            "setting": name,
            "images_per_s": round(rate, 1),
            "relative": round(rate / plain, 3),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            "backbone": setup.backbone,
            "batch": setup.batch,
            "size": setup.size,
            "amp_bf16": setup.amp,
            "channels_last": setup.channels_last,
        }


def format_table(rows: list[dict]) -> str:
    lines = [f"{'setting':<22}{'images/s':>10}{'relative':>10}"]
    lines += [f"{r['setting']:<22}{r['images_per_s']:>10.1f}{r['relative']:>10.3f}" for r in rows]
    return "\n".join(lines)
