"""The pretraining method: a registry users extend, and the two methods dilo ships.

``MODEL.METHOD`` names a builder in :data:`METHOD_REGISTRY`, ``fn(cfg, model, num_images, device)
-> Method``. A :class:`Method` is the part of pretraining that differs between methods: its
loss on a step's views, its state (memory bank; key encoder and queue) and what the kNN monitor
compares against. Everything else (data and copy-paste, solver, checkpoints, exact resume, DDP,
monitors, probes, conversion of ``model``, the query encoder) is the :class:`Trainer`'s, shared.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import torch
from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

from pretrain.instdisc import InstanceDiscrimination, MemoryBank
from pretrain.moco import MomentumContrast
from pretrain.utils import comm

METHOD_REGISTRY = Registry("METHOD")
METHOD_REGISTRY.__doc__ = """Pretraining methods: ``fn(cfg, model, num_images, device) -> Method``.

Register your own with ``@METHOD_REGISTRY.register()``, add its name to
``pretrain.config.defaults.METHODS`` (and to TWO_VIEW_METHODS if it trains on two views) and set
``MODEL.METHOD``.
"""

Autocast = Callable[[], AbstractContextManager]


class Method(nn.Module):
    """What the trainer asks of a method; subclasses implement :meth:`step_loss`.

    ``views``: augmented views of each image a step needs (the data path draws them).
    """

    views: ClassVar[int] = 1

    def step_loss(
        self,
        model: nn.Module,
        ddp_model: nn.Module,
        views: list[torch.Tensor],
        indices: torch.Tensor,
        step: int,
        autocast: Autocast,
    ) -> torch.Tensor:
        """The loss of this rank's ``views`` (images of dataset ``indices``) at global ``step``, state updated.

        ``model`` is the bare module being trained; ``ddp_model`` the same model as the step runs it (DDP-wrapped,
        or ``model`` itself in one process), under ``autocast``.
        """
        raise NotImplementedError

    def start(self, training_embeddings: Callable[[], torch.Tensor]) -> None:
        """Called once when a run starts from scratch (not on resume); ``training_embeddings()`` gives the
        current model's embeddings of the training images, in dataset order (an inference pass)."""

    def memory(self) -> torch.Tensor | None:
        """Embeddings of the training images, in dataset order, for the kNN monitor; None: the trainer
        embeds them (center crops, the current ``model``)."""
        return None

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint entries of this method's state."""
        return {"criterion": self.state_dict()}

    def load_checkpoint_state(self, ckpt: dict[str, Any], path: str) -> None:
        try:
            self.load_state_dict(ckpt["criterion"])
        except (KeyError, RuntimeError) as e:
            raise ValueError(f"checkpoint {path!r} does not fit MODEL.METHOD and its settings here: {e}") from e


class InstDisc(InstanceDiscrimination, Method):
    """Instance discrimination with a memory bank: one view, scored against bank rows (the paper's).

    ``bank_init`` (INSTDISC.BANK_INIT) "features" starts every row from the untrained model's
    embedding of its image instead of the bank's uniform rows.
    """

    def __init__(self, *args: Any, bank_init: str = "random", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bank_init = bank_init

    def start(self, training_embeddings: Callable[[], torch.Tensor]) -> None:
        if self.bank_init == "features":
            rows = self.bank.features
            rows.copy_(training_embeddings().to(rows.device, rows.dtype))

    def step_loss(
        self,
        model: nn.Module,
        ddp_model: nn.Module,
        views: list[torch.Tensor],
        indices: torch.Tensor,
        step: int,
        autocast: Autocast,
    ) -> torch.Tensor:
        with autocast():
            embeddings = ddp_model(views[0])
        # Scores against the bank as it was, then writes this step's (all-rank) features into it.
        return self(embeddings, indices, step)

    def memory(self) -> torch.Tensor:
        return self.bank.features

    def checkpoint_state(self) -> dict[str, Any]:
        return {"bank": self.bank.state_dict(), **super().checkpoint_state()}

    def load_checkpoint_state(self, ckpt: dict[str, Any], path: str) -> None:
        if "bank" not in ckpt:
            raise ValueError(f"checkpoint {path!r} has no memory bank: it was not trained with MODEL.METHOD instdisc")
        self.bank.load_state_dict(ckpt["bank"])
        super().load_checkpoint_state(ckpt, path)


class MoCo(MomentumContrast, Method):
    """MoCo: two views, the first the query (``model``'s), the second the key (the momentum encoder's)."""

    views = 2

    def step_loss(
        self,
        model: nn.Module,
        ddp_model: nn.Module,
        views: list[torch.Tensor],
        indices: torch.Tensor,
        step: int,
        autocast: Autocast,
    ) -> torch.Tensor:
        return self(model, ddp_model, views[0], views[1], step, autocast)


@METHOD_REGISTRY.register()
def instdisc(cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> Method:
    i = cfg.INSTDISC
    bank = MemoryBank(num_images, cfg.MODEL.EMBED_DIM, i.BANK_MOMENTUM, cfg.SEED, device)
    method = InstDisc(bank, i.NUM_NEGATIVES, i.TEMPERATURE, i.LOSS, i.SHARED_NEGATIVES, cfg.SEED, bank_init=i.BANK_INIT)
    return method.to(device)


@METHOD_REGISTRY.register()
def moco_v2(cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> Method:
    """MoCo v2 with MOCO.*; the queue must take whole batches and each process's batch whole BN groups."""
    m, batch = cfg.MOCO, cfg.SOLVER.IMS_PER_BATCH
    if m.QUEUE_SIZE % batch:
        raise ValueError(f"MOCO.QUEUE_SIZE {m.QUEUE_SIZE} must be a multiple of SOLVER.IMS_PER_BATCH {batch}")
    per_process = batch // comm.get_world_size()
    if per_process % m.BN_GROUPS:
        raise ValueError(
            f"MOCO.BN_GROUPS {m.BN_GROUPS} must divide each process's batch of {per_process} images "
            f"(SOLVER.IMS_PER_BATCH {batch} over {comm.get_world_size()} processes)"
        )
    return MoCo(model, cfg.MODEL.EMBED_DIM, m.QUEUE_SIZE, m.MOMENTUM, m.TEMPERATURE, m.BN_GROUPS, cfg.SEED).to(device)


def build_method(cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> Method:
    name = cfg.MODEL.METHOD
    if name not in METHOD_REGISTRY:
        raise KeyError(f"MODEL.METHOD {name!r} is not registered; known: {sorted(k for k, _ in METHOD_REGISTRY)}")
    return METHOD_REGISTRY.get(name)(cfg, model, num_images, device)
