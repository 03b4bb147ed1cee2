"""The pretraining method: a registry users extend, and the two methods dilo ships.

``MODEL.METHOD`` names a :class:`Method` subclass in :data:`METHOD_REGISTRY` (its ``name``). A method
is the part of pretraining that differs between methods: its loss on a step's views, its state (memory
bank; key encoder and queue) and what the kNN monitor compares against. Everything else (data and
copy-paste, solver, checkpoints, exact resume, DDP, monitors, probes, conversion of ``model``, the query
encoder) is the :class:`Trainer`'s, shared. A class declares how many views of each image a step needs,
so the trainer asks the class before it builds the data, and builds the method (its bank needs the
number of images) from the config once the data is there (:meth:`Method.from_config`).
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
METHOD_REGISTRY.__doc__ = """Pretraining methods: :class:`Method` subclasses, found by their ``name`` (MODEL.METHOD).

Register your own with ``@METHOD_REGISTRY.register()`` on a subclass that sets ``name`` and ``views`` and
implements ``from_config`` and ``step_loss``; add its name to ``pretrain.config.defaults.METHODS`` (and to
TWO_VIEW_METHODS if it trains on two views) and set ``MODEL.METHOD``.
"""

Autocast = Callable[[], AbstractContextManager]


class Method(nn.Module):
    """What the trainer asks of a method; subclasses implement :meth:`from_config` and :meth:`step_loss`.

    ``name``: its MODEL.METHOD value. ``views``: augmented views of each image a step needs (the data path
    draws them).
    """

    name: ClassVar[str]
    views: ClassVar[int] = 1

    @classmethod
    def from_config(cls, cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> Method:
        """The method of ``cfg`` for ``model`` trained on ``num_images`` images, on ``device``."""
        raise NotImplementedError

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

    def diagnostics(self) -> dict[str, float]:
        """Scalars the trainer logs with the loss: the method's means since the last call (default: none)."""
        return {}

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint entries of this method's state."""
        return {"criterion": self.state_dict()}

    def load_checkpoint_state(self, ckpt: dict[str, Any], path: str) -> None:
        try:
            self.load_state_dict(ckpt["criterion"])
        except (KeyError, RuntimeError) as e:
            raise ValueError(f"checkpoint {path!r} does not fit MODEL.METHOD and its settings here: {e}") from e


@METHOD_REGISTRY.register()
class InstDisc(InstanceDiscrimination, Method):
    """Instance discrimination with a memory bank: one view, scored against bank rows (the paper's).

    ``bank_init`` (INSTDISC.BANK_INIT) "features" starts every row from the untrained model's
    embedding of its image instead of the bank's uniform rows.
    """

    name = "instdisc"

    def __init__(self, *args: Any, bank_init: str = "random", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bank_init = bank_init

    @classmethod
    def from_config(cls, cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> InstDisc:
        """INSTDISC.* with a bank of ``num_images`` rows of MODEL.EMBED_DIM (``model`` is not needed)."""
        i = cfg.INSTDISC
        bank = MemoryBank(num_images, cfg.MODEL.EMBED_DIM, i.BANK_MOMENTUM, cfg.SEED, device)
        method = cls(bank, i.NUM_NEGATIVES, i.TEMPERATURE, i.LOSS, i.SHARED_NEGATIVES, cfg.SEED, bank_init=i.BANK_INIT)
        return method.to(device)

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


@METHOD_REGISTRY.register()
class MoCo(MomentumContrast, Method):
    """MoCo: two views, the first the query (``model``'s), the second the key (the momentum encoder's)."""

    name = "moco_v2"
    views = 2

    @classmethod
    def from_config(cls, cfg: CfgNode, model: nn.Module, num_images: int, device: torch.device) -> MoCo:
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
        moco = cls(model, cfg.MODEL.EMBED_DIM, m.QUEUE_SIZE, m.MOMENTUM, m.TEMPERATURE, m.BN_GROUPS, cfg.SEED)
        return moco.to(device)

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

    def diagnostics(self) -> dict[str, float]:
        return self.similarities()


def method_class(name: str) -> type[Method]:
    """The registered :class:`Method` whose ``name`` is ``name`` (MODEL.METHOD); a KeyError lists the known ones."""
    classes = {cls.name: cls for _, cls in METHOD_REGISTRY}
    if name not in classes:
        raise KeyError(f"MODEL.METHOD {name!r} is not registered; known: {sorted(classes)}")
    return classes[name]
