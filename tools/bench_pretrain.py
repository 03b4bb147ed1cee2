#!/usr/bin/env python
"""Training throughput of ResNet-50 at 224 px on synthetic input: the plain network, and the
instance-discrimination step (loss + bank) with K = 4096 / 65536, per-sample or shared negatives.

    python tools/bench_pretrain.py                          # GPU if present: bf16 + channels_last
    python tools/bench_pretrain.py --batch 32 --iters 3     # a quick look on a CPU

Prints one JSON object per setting, then a table; ``relative`` is images/s over the plain step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

# tools/pretrain.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

from pretrain.config import get_cfg  # noqa: E402
from pretrain.instdisc import InstanceDiscrimination, MemoryBank  # noqa: E402
from pretrain.models import build_model  # noqa: E402


def bench(model, criterion, batch: int, size: int, iters: int, warmup: int, device, amp: bool, channels_last: bool):
    """Images/s of forward + loss + backward + SGD step; criterion None means a plain step."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=fmt)
    idx = torch.randint(len(criterion.bank) if criterion else 1, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for i in range(warmup + iters):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            tic = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            emb = model(x)
        # The plain step stands in a trivial loss for the same embedding.
        loss = criterion(emb, idx, i) if criterion else F.normalize(emb.float(), dim=1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * iters / (time.perf_counter() - tic)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--bank-size", type=int, default=1_281_167, help="N (ImageNet-1k's training set)")
    p.add_argument("--no-amp", action="store_true", help="float32 even on a GPU")
    args = p.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda" and not args.no_amp
    channels_last = device.type == "cuda"
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = args.backbone
    torch.backends.cudnn.benchmark = True
    model = build_model(cfg).to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    bank = MemoryBank(args.bank_size, cfg.MODEL.EMBED_DIM, device=device)

    settings = [("plain", None, None)] + [
        (f"K={k} {mode}", k, mode) for k in (4096, 65536) for mode in ("per-sample", "shared")
    ]
    # One untimed pass first: the first measured setting must not pay for allocator and thread start-up.
    bench(model, None, args.batch, args.size, 1, args.warmup, device, amp, channels_last)
    rows = []
    for name, k, mode in settings:
        crit = InstanceDiscrimination(bank, k, shared_negatives=mode == "shared") if k else None
        ims = bench(model, crit, args.batch, args.size, args.iters, args.warmup, device, amp, channels_last)
        row = {
            "setting": name,
            "images_per_s": round(ims, 1),
            "relative": round(ims / rows[0]["images_per_s"], 3) if rows else 1.0,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "backbone": args.backbone,
            "batch": args.batch,
            "size": args.size,
            "amp_bf16": amp,
            "channels_last": channels_last,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'setting':<22}{'images/s':>10}{'relative':>10}")
    for r in rows:
        print(f"{r['setting']:<22}{r['images_per_s']:>10.1f}{r['relative']:>10.3f}")


if __name__ == "__main__":
    main()
