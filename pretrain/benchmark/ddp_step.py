"""One pretraining step in a process group, run by torchrun, or without one: the GPU report's DDP check.

    python -m torch.distributed.run --standalone --nproc_per_node 1 \
        -m pretrain.benchmark.ddp_step OUT CONFIG KEY VALUE ...

Under torchrun the process joins a group even when it is alone (NCCL on a GPU, gloo on the CPU), so the
step goes through DistributedDataParallel and the collectives a multi-GPU run uses; :func:`one_step`
without torchrun is the single-process reference. Each writes ``OUT/rank<r>_of<w>.pt``: the method's
memory (InstDisc's bank) and the model after the step.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from pretrain.config import load_config
from pretrain.engine import Trainer, prepare_embedded
from pretrain.utils import comm
from pretrain.utils.torch_file import save_atomic


def one_step(device: torch.device, output_dir: str, config_file: str, opts: list[str]) -> str:
    """Train ``config_file`` with ``opts`` for one step on ``device``; returns the file written."""
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False  # the two runs comparable
    cfg = load_config(config_file, [*opts, "OUTPUT_DIR", os.path.join(output_dir, "run")])
    prepare_embedded(cfg)  # the embedded set and its masks, on first use
    trainer = Trainer(cfg, device)
    trainer.resume_or_start(False)  # the method's start (the bank from features)
    trainer.sampler.set_epoch(0)
    trainer.train_set.set_epoch(0)
    batch = next(iter(trainer.loader))
    tic = time.perf_counter()
    trainer.run_step(batch, 0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - tic
    path = os.path.join(output_dir, f"rank{comm.get_rank()}_of{comm.get_world_size()}.pt")
    state = {"memory": trainer.criterion.memory().cpu(), "model": trainer.model.state_dict(), "seconds": seconds}
    state["backend"] = dist.get_backend() if comm.is_distributed() else None
    save_atomic(state, path)
    trainer.close()
    return path


def main(output_dir: str, config_file: str, opts: list[str]) -> None:
    """torchrun's entry: a group of every process torchrun started, even one."""
    device = comm.init_distributed()
    if not comm.is_distributed():
        cuda = device.type == "cuda"
        backend, device_id = ("nccl", device) if cuda else ("gloo", None)
        dist.init_process_group(backend, timeout=timedelta(minutes=5), device_id=device_id)
    try:
        one_step(device, output_dir, config_file, opts)
    finally:
        comm.destroy_distributed()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
