"""The pretraining loop: the method of MODEL.METHOD (:mod:`.method`), on one or many GPUs.

Read :meth:`Trainer.run_step` and the method's ``step_loss`` for the algorithm; everything else is
bookkeeping that makes a long run safe: atomic checkpoints every epoch, exact resumption (mid-epoch included), a
clean save on SIGTERM, progress bars, JSON-lines metrics and the kNN monitor.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from contextlib import AbstractContextManager
from typing import Any

import torch
from fvcore.common.config import CfgNode
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from pretrain.augment.copy_paste import COUNTED
from pretrain.data import build_eval_dataset, build_train_batches, build_train_dataset, dataset_roots, eval_loader
from pretrain.models import build_model
from pretrain.utils import comm
from pretrain.utils.events import MetricsWriter
from pretrain.utils.torch_file import save_atomic

from .checkpoint import FINAL, LAST, last_checkpoint, load_checkpoint, rng_state, set_rng_state
from .evaluation import knn_monitor, linear_probe_eval
from .features import extract_features
from .method import method_class
from .provenance import run_record, take_output_dir
from .solver import build_optimizer, lr_at_epoch, set_lr

logger = logging.getLogger("pretrain")

AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}  # SOLVER.AMP.DTYPE's choices
# Per-sample flags of the dataset, summed over each epoch and logged: copy-paste composites,
# masks without foreground, images without a mask, crops that miss their mask's foreground (left
# as they are). Unreadable files replaced (DATA.SKIP_BAD_IMAGES) are counted by name: "num_bad".
SAMPLE_COUNTS = tuple(COUNTED)


class Trainer:
    """Builds model, bank, loss, optimizer and data from ``cfg``; :meth:`train` runs them."""

    def __init__(self, cfg: CfgNode, device: torch.device):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.SEED)  # identical initial weights on every rank
        train_root, val_root = dataset_roots(cfg)
        method = method_class(cfg.MODEL.METHOD)
        self.train_set = build_train_dataset(cfg, train_root, views=method.views)  # the views the method's steps take
        self.val_set = build_eval_dataset(cfg, val_root, self.train_set.classes) if val_root else None
        self.loader, self.sampler = build_train_batches(cfg, self.train_set, device)

        self.memory_format = torch.channels_last if cfg.MODEL.CHANNELS_LAST else torch.contiguous_format
        self.model = build_model(cfg).to(device, memory_format=self.memory_format)
        self.ddp_model = (
            DistributedDataParallel(self.model, device_ids=[device] if device.type == "cuda" else None)
            if comm.is_distributed()
            else self.model
        )
        self.criterion = method.from_config(cfg, self.model, len(self.train_set), device)
        self.optimizer = build_optimizer(cfg, self.model)
        self.amp_dtype = AMP_DTYPES[cfg.SOLVER.AMP.DTYPE]
        fp16 = cfg.SOLVER.AMP.ENABLED and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(device.type, enabled=fp16)

        self.epoch, self.iter = 0, 0  # where the next step starts
        self._stop_requested = False
        self.named_bad: set[str] = set()  # unreadable files already named in the log and metrics
        self.metrics: MetricsWriter | None = None  # opened once the run has its folder (resume_or_start)
        val_paths = self.val_set.paths if self.val_set is not None else None
        self.record = run_record(cfg, self.train_set.paths, val_paths, self.train_set.masks)

    # ------------------------------------------------------------------ the algorithm
    def run_step(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """One SGD step of the method; returns the (detached) loss."""
        keys = ["image", *(f"image{v}" for v in range(1, self.criterion.views))]
        views = [self._on_device(batch[key]) for key in keys]
        indices = batch["index"].to(self.device, non_blocking=True)
        loss = self.criterion.step_loss(self.model, self.ddp_model, views, indices, step, self._autocast)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()

    def _on_device(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def _autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.cfg.SOLVER.AMP.ENABLED)

    # ------------------------------------------------------------------ the loop
    def train(self) -> dict[str, Any]:
        """Train from (epoch, iter) to SOLVER.EPOCHS; returns the final metrics.

        Returns early, with ``{"interrupted": True}``, after saving if SIGTERM arrived.
        """
        cfg = self.cfg
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            for epoch in range(self.epoch, cfg.SOLVER.EPOCHS):
                self.epoch = epoch
                if not self.train_one_epoch():
                    self.save()
                    logger.info(
                        "stopped by SIGTERM at epoch %d iteration %d; saved, resume with --resume", epoch, self.iter
                    )
                    return {"interrupted": True, "epoch": epoch, "iter": self.iter}
                self.epoch, self.iter = epoch + 1, 0
                period, last = cfg.TEST.KNN_PERIOD, self.epoch == cfg.SOLVER.EPOCHS
                if self.val_set is not None and not last and period and self.epoch % period == 0:
                    self._log(**self.knn())  # the last epoch's is part of final_metrics()
                self.save()
        finally:
            signal.signal(signal.SIGTERM, previous)
        return self.final_metrics()

    def train_one_epoch(self) -> bool:
        """Runs the rest of epoch ``self.epoch``; False if it stopped on a stop request."""
        cfg, epoch = self.cfg, self.epoch
        lr = lr_at_epoch(cfg, epoch)
        set_lr(self.optimizer, lr)
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, self.iter)
        self.ddp_model.train()
        iters = self.sampler.iters_per_epoch
        check_every = 1 if comm.get_world_size() == 1 else 10  # a stop flag costs a collective
        loss_sum = torch.zeros((), device=self.device)
        counts = torch.zeros(len(SAMPLE_COUNTS), dtype=torch.long)
        bad: set[str] = set()
        window_start, window_iters, tic = self.iter, 0, time.perf_counter()
        bar = tqdm(
            total=iters, initial=self.iter, desc=f"epoch {epoch}", disable=not comm.is_main_process(), leave=False
        )
        for batch in self.loader:
            loss_sum += self.run_step(batch, epoch * iters + self.iter)
            counts += torch.stack([batch[key].sum() for key in SAMPLE_COUNTS])
            bad.update(name for name in batch["bad"] if name)
            self.iter += 1
            window_iters += 1
            bar.update()
            if self.iter % cfg.LOG.PERIOD == 0 or self.iter == iters:
                elapsed = time.perf_counter() - tic
                loss = self._window_loss(loss_sum, window_iters)
                ims = window_iters * cfg.SOLVER.IMS_PER_BATCH / elapsed
                bar.set_postfix(loss=f"{loss:.3f}", ims=f"{ims:.0f}/s")
                self._log(epoch=epoch, iter=self.iter, loss=loss, lr=lr, ims_per_s=ims, **self.criterion.diagnostics())
                loss_sum.zero_()
                window_iters, tic = 0, time.perf_counter()
            asks = self.iter % check_every == 0 or self.iter == iters  # an epoch shorter than check_every asks too
            if asks and comm.any_rank(self._stop_requested, self.device):
                bar.close()
                self._window_loss(loss_sum, window_iters)  # the steps since the last log must be finite to be saved
                return False
        bar.close()
        totals = dict(zip(SAMPLE_COUNTS, comm.all_reduce_sum(counts.to(self.device)).tolist(), strict=True))
        self._log(epoch=epoch, iter=self.iter, epoch_iters=self.iter - window_start, **totals, **self._bad_files(bad))
        return True

    def _window_loss(self, loss_sum: torch.Tensor, steps: int) -> float:
        """The mean loss of the last ``steps`` steps over all ranks (``loss_sum``, their sum on this rank).

        A non-finite mean means a non-finite step: the run stops at once with FloatingPointError, before any
        checkpoint could hold the broken weights (checkpoint_last.pth keeps the last epoch that was whole).
        """
        loss = (comm.all_reduce_sum(loss_sum) / comm.get_world_size()).item() / max(steps, 1)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss} in epoch {self.epoch} before iteration {self.iter}: the run stops; "
                f"{os.path.join(self.cfg.OUTPUT_DIR, LAST)} holds the last whole epoch. Lower SOLVER.BASE_LR "
                "(or check the data), then continue with --resume"
            )
        return loss

    def _bad_files(self, bad: set[str]) -> dict[str, Any]:
        """``num_bad``: the distinct unreadable files of this epoch (all ranks), and ``bad_images``: those
        named for the first time (each file is named once per run, in the log and in metrics.jsonl)."""
        distinct = sorted(set().union(*comm.all_gather_object(bad)))
        new = [name for name in distinct if name not in self.named_bad]
        self.named_bad.update(new)
        if distinct:
            logger.warning(
                "epoch %d: %d unreadable images were replaced (DATA.SKIP_BAD_IMAGES)%s",
                self.epoch,
                len(distinct),
                "".join(f"\n  {name}" for name in new),
            )
        return {"num_bad": len(distinct), **({"bad_images": new} if new else {})}

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        logger.warning("SIGTERM received: saving a checkpoint after the current step")
        self._stop_requested = True

    def _log(self, **scalars: Any) -> None:
        if self.metrics is not None:
            step = self.epoch * self.sampler.iters_per_epoch + self.iter
            self.metrics.write(step, **scalars)
        if "knn_top1" in scalars or "linear_top1" in scalars:
            logger.info("epoch %d: %s", self.epoch, {k: round(v, 2) for k, v in scalars.items()})

    # ------------------------------------------------------------------ evaluation
    def knn(self) -> dict[str, float]:
        """kNN of val against the method's memory (InstDisc's bank) or, without one, the training images'
        center-crop embeddings."""
        assert self.val_set is not None
        memory = self.criterion.memory()
        if memory is None:
            memory = self.training_embeddings("kNN memory")
        labels = self.train_set.labels
        return knn_monitor(self.cfg, self.model, memory.to(self.device), labels, self.val_set, self.device)

    def final_metrics(self) -> dict[str, Any]:
        """kNN (against the bank) and, if TEST.LINEAR_PROBE, the fast linear probe on val."""
        result: dict[str, Any] = {"epochs": self.epoch, "num_classes": len(self.train_set.classes)}
        if self.val_set is None:
            return result
        result.update(self.knn())
        if self.cfg.TEST.LINEAR_PROBE:
            # Fit on the training images as the probe sees them at test time: resized and center-cropped.
            probe_set = build_eval_dataset(self.cfg, self.train_set.root)
            result.update(linear_probe_eval(self.cfg, self.model, probe_set, self.val_set, self.device))
        self._log(**{k: v for k, v in result.items() if k.startswith(("knn_", "linear_"))})
        return result

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **self.criterion.checkpoint_state(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "iter": self.iter,
            "rng": comm.all_gather_object(rng_state()),  # one state per rank
            "world_size": comm.get_world_size(),
            "num_images": len(self.train_set),
            "config": self.cfg.dump(),
            "provenance": self.record.to_json(),
        }

    def save(self) -> None:
        """checkpoint_last.pth every time (atomically), plus a kept copy every KEEP_PERIOD epochs."""
        state = self.state_dict()  # a collective: every rank takes part
        if comm.is_main_process():
            out = self.cfg.OUTPUT_DIR
            save_atomic(state, os.path.join(out, LAST))
            keep = self.cfg.CHECKPOINT.KEEP_PERIOD
            if self.iter == 0 and (self.epoch == self.cfg.SOLVER.EPOCHS or (keep and self.epoch % keep == 0)):
                name = FINAL if self.epoch == self.cfg.SOLVER.EPOCHS else f"checkpoint_{self.epoch:04d}.pth"
                save_atomic(state, os.path.join(out, name))
        comm.barrier()

    def load(self, ckpt: dict[str, Any], path: str) -> None:
        """Restore everything :meth:`state_dict` saved (``ckpt``, read from ``path``); the architecture and data
        must match."""
        if ckpt.get("num_images", len(self.train_set)) != len(self.train_set):
            raise ValueError(
                f"checkpoint {path!r} was trained on {ckpt['num_images']} images, but the training set "
                f"now has {len(self.train_set)}: the memory bank rows would not match"
            )
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise ValueError(f"checkpoint {path!r} does not fit MODEL.* of this config: {e}") from e
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.criterion.load_checkpoint_state(ckpt, path)
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.iter = ckpt["epoch"], ckpt["iter"]
        if ckpt["world_size"] == comm.get_world_size():
            set_rng_state(ckpt["rng"][comm.get_rank()])
        else:
            logger.warning(
                "resuming on %d processes from %d: global RNG states are not restored",
                comm.get_world_size(),
                ckpt["world_size"],
            )
        logger.info("resumed from %s at epoch %d iteration %d", path, self.epoch, self.iter)

    def resume_or_start(self, resume: bool) -> None:
        """Takes OUTPUT_DIR for this run (:func:`.provenance.take_output_dir`: a resume must match the run's
        record, a start must not write over a run), then loads its last checkpoint with ``resume`` (if there is
        one), else lets the method start; metrics.jsonl goes on (a resume) or starts anew."""
        path = last_checkpoint(self.cfg.OUTPUT_DIR) if resume else None
        ckpt = load_checkpoint(path) if path else None
        take_output_dir(self.cfg, self.record, resume, ckpt)
        if comm.is_main_process():
            self.metrics = MetricsWriter(self.cfg.OUTPUT_DIR, append=ckpt is not None)
        if ckpt is not None:
            self.load(ckpt, path)
            return
        if resume:
            logger.info("--resume: no checkpoint in %s, starting from scratch", self.cfg.OUTPUT_DIR)
        self.criterion.start(lambda: self.training_embeddings("method start"))

    def training_embeddings(self, desc: str) -> torch.Tensor:
        """The current model's embeddings of the training images (evaluation transform), in dataset order."""
        images = build_eval_dataset(self.cfg, self.train_set.root)
        loader = eval_loader(images, self.cfg.TEST.IMS_PER_BATCH, self.cfg.DATA.NUM_WORKERS)
        return extract_features(self.model, loader, len(images), self.device, desc)["embeddings"]

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
