"""Launched by test_distributed.py, under torchrun or alone: train tiny configs, dump their state.

Registers a BatchNorm-free backbone (per-rank BN statistics would make a 2-process run differ
from a single process by design) through BACKBONE_REGISTRY, the way users plug in their own;
MODEL.BACKBONE.NAME in the options trains another. MoCo runs also dump the queue after every step.
Under torchrun it trains every scenario of one JSON argument ({name: options}) in turn, in one process
group: starting 2 processes costs more than a tiny run.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from torch import nn

from pretrain.engine import Trainer
from pretrain.models import BACKBONE_REGISTRY
from pretrain.utils import comm
from tests.conftest import tiny_config


class TinyNoBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_channels = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@BACKBONE_REGISTRY.register()
def tiny_no_bn(*, width: float, cifar_stem: bool) -> nn.Module:
    """A fixed 8-channel net: ``width`` and ``cifar_stem`` are accepted (the registry's contract) and ignored."""
    return TinyNoBN()


def main(cache_dir: str, output_dir: str, *opts: str) -> None:
    """One run in this process (the single-process reference)."""
    train_and_dump(comm.init_distributed(), cache_dir, output_dir, *opts)


def train_and_dump(device: torch.device, cache_dir: str, output_dir: str, *opts: str) -> None:
    """Train the tiny config with ``opts`` on ``device`` and write this rank's state to ``output_dir``."""
    torch.set_num_threads(1)
    cfg = tiny_config(cache_dir, output_dir, "MODEL.BACKBONE.NAME", "tiny_no_bn", *opts)
    trainer = Trainer(cfg, device)
    moco = cfg.MODEL.METHOD == "moco_v2"
    queues: list[torch.Tensor] = []
    if moco:
        run_step = trainer.run_step

        def step_and_record(batch: dict, step: int) -> torch.Tensor:
            loss = run_step(batch, step)
            queues.append(trainer.criterion.queue.keys.clone())
            return loss

        trainer.run_step = step_and_record
    trainer.train()
    state: dict = {"model": trainer.model.state_dict()}
    if moco:
        state.update(queues=torch.stack(queues), key_encoder=trainer.criterion.key_encoder.state_dict())
    else:
        negatives = trainer.criterion.sample_negatives(4, step=1)  # what this rank reads at step 1
        state.update(bank=trainer.criterion.bank.features, negatives=negatives)
    torch.save(state, f"{output_dir}/rank{comm.get_rank()}_of{comm.get_world_size()}.pt")
    trainer.close()


if __name__ == "__main__":
    cache, root, scenarios = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    rank_device = comm.init_distributed()
    for name, options in scenarios.items():
        train_and_dump(rank_device, cache, os.path.join(root, name), *options)
    comm.destroy_distributed()
